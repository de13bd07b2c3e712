package sandbox

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The store keeps every record pre-encoded as JSON, plus the facts queries
// filter on. Records are immutable: an update replaces the *record, so a
// page being rendered from old pointers stays consistent.

const arenaChunk = 4 << 20 // bytes per encoding arena allocation

// record is one entity instance.
type record struct {
	id int64
	recordMeta
	json []byte
}

// key returns the int64 key of property f (see literal for the key spaces).
func (r *record) key(f property) int64 {
	switch f {
	case propID:
		return r.id
	case propUpdated:
		return r.updated * int64(time.Second)
	case propCreated:
		return r.created * int64(time.Second)
	case propTxnDate:
		return int64(r.txnDate)
	default:
		if r.active {
			return 1
		}
		return 0
	}
}

// table holds the records of one entity.
type table struct {
	byID      []*record // index Id-1
	byUpdated []*record // sorted by (updated, id)
}

// store holds all tables behind one lock.
type store struct {
	mu     sync.RWMutex
	gen    *generator
	tables [numKinds]table
}

// newStore generates and encodes every record.
func newStore(g *generator) *store {
	s := &store{gen: g}
	for k := range numKinds {
		recs := make([]record, g.total(k))
		s.encodeAll(k, recs)
		t := &s.tables[k]
		t.byID = make([]*record, len(recs))
		for i := range recs {
			t.byID[i] = &recs[i]
		}
		t.byUpdated = slices.Clone(t.byID)
		slices.SortFunc(t.byUpdated, compareUpdated)
	}
	return s
}

// compareUpdated orders records by (updated, id).
func compareUpdated(a, b *record) int {
	if c := cmp.Compare(a.updated, b.updated); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// encodeAll renders recs[i] = record i of kind k, in parallel; the output
// does not depend on the number of workers.
func (s *store) encodeAll(k entityKind, recs []record) {
	n := len(recs)
	workers := max(1, min(runtime.GOMAXPROCS(0), n/512))
	per := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*per, min(n, (w+1)*per)
		wg.Go(func() {
			var arena, scratch []byte
			for i := lo; i < hi; i++ {
				var meta recordMeta
				meta, scratch = s.gen.render(k, i, nil, scratch[:0])
				if len(arena)+len(scratch) > cap(arena) {
					arena = make([]byte, 0, max(arenaChunk, len(scratch)))
				}
				at := len(arena)
				arena = append(arena, scratch...)
				recs[i] = record{id: int64(i + 1), recordMeta: meta, json: arena[at:len(arena):len(arena)]}
			}
		})
	}
	wg.Wait()
}

// render appends the JSON of record i of kind k to b. With a non-nil
// override, the record carries that SyncToken, time stamps and flag
// instead of the generated ones.
func (g *generator) render(k entityKind, i int, override *recordMeta, b []byte) (recordMeta, []byte) {
	switch k {
	case kindCustomer:
		c := g.customers[i]
		if override != nil {
			c.meta = *override
		}
		return c.meta, g.appendCustomer(b, &c)
	case kindItem:
		it := g.items[i]
		if override != nil {
			it.meta = *override
		}
		return it.meta, g.appendItem(b, &it)
	default:
		inv := g.invoice(i)
		if override != nil {
			inv.meta = *override
		}
		return inv.meta, g.appendInvoice(b, &inv)
	}
}

// update bumps SyncToken and sets LastUpdatedTime to now (second
// precision) for one record, re-encoding it.
func (s *store) update(k entityKind, id int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.tables[k]
	if id < 1 || id > int64(len(t.byID)) {
		return fmt.Errorf("%s %s: %w", k, strconv.FormatInt(id, 10), ErrNotFound)
	}
	old := t.byID[id-1]
	meta := old.recordMeta
	meta.syncToken++
	meta.updated = now.Unix()
	_, js := s.gen.render(k, int(id-1), &meta, nil)
	nr := &record{id: id, recordMeta: meta, json: js}
	t.byID[id-1] = nr
	pos, found := slices.BinarySearchFunc(t.byUpdated, old, compareUpdated)
	if !found {
		panic(fmt.Sprintf("sandbox: index out of sync for %s %d", k, id))
	}
	t.byUpdated = slices.Delete(t.byUpdated, pos, pos+1)
	pos, _ = slices.BinarySearchFunc(t.byUpdated, nr, compareUpdated)
	t.byUpdated = slices.Insert(t.byUpdated, pos, nr)
	return nil
}

// infos returns the current state of every record of kind k by Id.
func (s *store) infos(k entityKind) []RecordInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	recs := s.tables[k].byID
	out := make([]RecordInfo, len(recs))
	for i, r := range recs {
		out[i] = RecordInfo{
			ID:          strconv.FormatInt(r.id, 10),
			SyncToken:   strconv.FormatInt(int64(r.syncToken), 10),
			Active:      r.active,
			LastUpdated: time.Unix(r.updated, 0).UTC(),
			Created:     time.Unix(r.created, 0).UTC(),
		}
	}
	return out
}

// payload returns the current JSON of one record (nil if absent).
func (s *store) payload(k entityKind, id int64) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := &s.tables[k]
	if id < 1 || id > int64(len(t.byID)) {
		return nil
	}
	return t.byID[id-1].json
}

// count returns the number of records of kind k.
func (s *store) count(k entityKind) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tables[k].byID)
}
