package sandbox

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

// Execution of a compiled plan. Candidates come from the cheapest index
// (Id lookup, LastUpdatedTime range, or all rows by Id); predicates the
// index already guarantees are skipped; when the candidate order already is
// the requested order the scan stops as soon as the page is full.

// result is the outcome of one plan.
type result struct {
	total int      // COUNT(*) result
	rows  [][]byte // page payloads in order
	first int64    // Id of the first row of the page (0 if none)
	more  bool     // rows exist after this page
}

// run executes p under the read lock.
func (s *store) run(p *plan) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := &s.tables[p.kind]
	cands, residual, candOrder := candidates(t, p.preds)
	match := func(r *record) bool {
		for i := range residual {
			if !residual[i].matches(r) {
				return false
			}
		}
		return true
	}
	if p.count {
		if len(residual) == 0 {
			return result{total: len(cands)}
		}
		n := 0
		for _, r := range cands {
			if match(r) {
				n++
			}
		}
		return result{total: n}
	}
	skip := p.start - 1
	if candOrder == p.order && !p.desc {
		if len(residual) == 0 { // the page is a sub-slice
			lo := min(skip, len(cands))
			hi := min(lo+p.max, len(cands))
			return page(cands[lo:hi], hi < len(cands))
		}
		var rows []*record
		for _, r := range cands {
			if !match(r) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			if len(rows) == p.max {
				return page(rows, true)
			}
			rows = append(rows, r)
		}
		return page(rows, false)
	}
	var all []*record
	for _, r := range cands {
		if match(r) {
			all = append(all, r)
		}
	}
	slices.SortFunc(all, func(a, b *record) int {
		c := cmp.Compare(a.key(p.order), b.key(p.order))
		if p.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	lo := min(skip, len(all))
	hi := min(lo+p.max, len(all))
	return page(all[lo:hi], hi < len(all))
}

// page builds a result from the rows of a page.
func page(rows []*record, more bool) result {
	res := result{rows: make([][]byte, len(rows)), more: more}
	for i, r := range rows {
		res.rows[i] = r.json
	}
	if len(rows) > 0 {
		res.first = rows[0].id
	}
	return res
}

// candidates picks the rows to scan and their order, and returns the
// predicates the choice does not already satisfy.
func candidates(t *table, preds []predicate) ([]*record, []predicate, property) {
	// An Id = or IN term: look the rows up directly (ascending, unique).
	for i, pr := range preds {
		if pr.field != propID {
			continue
		}
		ids := slices.Clone(pr.values)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		var rows []*record
		for _, id := range ids {
			if id >= 1 && id <= int64(len(t.byID)) {
				rows = append(rows, t.byID[id-1])
			}
		}
		return rows, without(preds, i), propID
	}
	// LastUpdatedTime range terms: binary-search the (updated, id) index.
	lo, hi := 0, len(t.byUpdated)
	var residual []predicate
	used := false
	for _, pr := range preds {
		if pr.field != propUpdated || pr.op == opIn {
			residual = append(residual, pr)
			continue
		}
		used = true
		v := pr.values[0]
		first := func(pred func(int64) bool) int {
			return sort.Search(len(t.byUpdated), func(i int) bool {
				return pred(t.byUpdated[i].updated * int64(time.Second))
			})
		}
		switch pr.op {
		case opEq:
			lo = max(lo, first(func(k int64) bool { return k >= v }))
			hi = min(hi, first(func(k int64) bool { return k > v }))
		case opGt:
			lo = max(lo, first(func(k int64) bool { return k > v }))
		case opGe:
			lo = max(lo, first(func(k int64) bool { return k >= v }))
		case opLt:
			hi = min(hi, first(func(k int64) bool { return k >= v }))
		case opLe:
			hi = min(hi, first(func(k int64) bool { return k > v }))
		}
	}
	if used {
		if lo >= hi {
			return nil, nil, propUpdated
		}
		return t.byUpdated[lo:hi], residual, propUpdated
	}
	return t.byID, preds, propID
}

// without returns preds minus element i.
func without(preds []predicate, i int) []predicate {
	out := make([]predicate, 0, len(preds)-1)
	out = append(out, preds[:i]...)
	return append(out, preds[i+1:]...)
}

// matches evaluates the predicate on r.
func (pr *predicate) matches(r *record) bool {
	k := r.key(pr.field)
	switch pr.op {
	case opEq:
		return k == pr.values[0]
	case opLt:
		return k < pr.values[0]
	case opGt:
		return k > pr.values[0]
	case opLe:
		return k <= pr.values[0]
	case opGe:
		return k >= pr.values[0]
	default:
		return slices.Contains(pr.values, k)
	}
}
