package sandbox

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Validation of a parsed statement against the entity it names, producing
// an executable plan whose predicates compare int64 keys.

const (
	defaultMaxResults = 100
	maxMaxResults     = 1000
)

// property is a queryable property.
type property int

const (
	propID      property = iota // Id
	propUpdated                 // MetaData.LastUpdatedTime
	propCreated                 // MetaData.CreateTime
	propTxnDate                 // TxnDate (Invoice)
	propActive                  // Active (Customer, Item)
)

// String returns the QBO spelling of the property.
func (f property) String() string {
	switch f {
	case propID:
		return "Id"
	case propUpdated:
		return "MetaData.LastUpdatedTime"
	case propCreated:
		return "MetaData.CreateTime"
	case propTxnDate:
		return "TxnDate"
	default:
		return "Active"
	}
}

// lookupField resolves a property name of kind case-insensitively.
func lookupField(k entityKind, name string) (property, bool) {
	switch strings.ToLower(name) {
	case "id":
		return propID, true
	case "metadata.lastupdatedtime":
		return propUpdated, true
	case "metadata.createtime":
		return propCreated, true
	case "txndate":
		return propTxnDate, k == kindInvoice
	case "active":
		return propActive, k.nameList()
	}
	return 0, false
}

// opKind is a comparison operator.
type opKind int

const (
	opEq opKind = iota
	opLt
	opGt
	opLe
	opGe
	opIn
)

// predicate is one compiled WHERE term: field op values.
type predicate struct {
	field  property
	op     opKind
	values []int64 // one value except for IN
}

// plan is a validated query.
type plan struct {
	kind       entityKind
	count      bool
	preds      []predicate
	order      property
	desc       bool
	start, max int // start is 1-based
}

// validationError is a semantic error; it renders as fault 4001
// "Invalid query" with a QueryValidationError detail.
type validationError struct{ msg string }

func (e *validationError) Error() string { return "QueryValidationError: " + e.msg }

func invalid(format string, args ...any) error {
	return &validationError{fmt.Sprintf(format, args...)}
}

// compile validates st and builds its plan. now resolves CURRENT_DATE.
func compile(st *statement, now time.Time, loc *time.Location) (*plan, error) {
	kind, ok := entityKindByName(st.entity.text)
	if !ok {
		return nil, invalid("Entity %s is not supported by this sandbox (supported: Customer, Invoice, Item)", st.entity.text)
	}
	p := &plan{kind: kind, count: st.count, order: propID, start: 1, max: defaultMaxResults}
	explicitActive := false
	for _, c := range st.conds {
		pr, err := compileCondition(kind, c, now, loc)
		if err != nil {
			return nil, err
		}
		explicitActive = explicitActive || pr.field == propActive
		p.preds = append(p.preds, pr)
	}
	if kind.nameList() && !explicitActive {
		// Name-list entities hide inactive rows unless the query asks.
		p.preds = append(p.preds, predicate{field: propActive, op: opEq, values: []int64{1}})
	}
	if st.order != nil {
		f, ok := lookupField(kind, st.order.field.text)
		if !ok {
			return nil, invalid("property '%s' is not sortable for %s", st.order.field.text, kind)
		}
		p.order, p.desc = f, st.order.desc
	}
	if st.hasStart && st.start > 1 {
		p.start = st.start
	}
	if st.hasMax {
		if st.max > maxMaxResults {
			return nil, invalid("value %d is too large. Max allowed value is %d", st.max, maxMaxResults)
		}
		if st.max < 1 {
			return nil, invalid("value %d is too small. Min allowed value is 1", st.max)
		}
		p.max = st.max
	}
	return p, nil
}

// compileCondition checks one WHERE term and converts its literals.
func compileCondition(kind entityKind, c condition, now time.Time, loc *time.Location) (predicate, error) {
	f, ok := lookupField(kind, c.field.text)
	if !ok {
		return predicate{}, invalid("property '%s' is not queryable for %s", c.field.text, kind)
	}
	pr := predicate{field: f}
	switch c.op {
	case "=":
		pr.op = opEq
	case "<":
		pr.op = opLt
	case ">":
		pr.op = opGt
	case "<=":
		pr.op = opLe
	case ">=":
		pr.op = opGe
	case "IN":
		pr.op = opIn
	default:
		return pr, invalid("operator %s is not supported for property %s", c.op, f)
	}
	if (f == propID || f == propActive) && pr.op != opEq && pr.op != opIn {
		return pr, invalid("operator %s is not supported for property %s; use = or IN", c.op, f)
	}
	for _, v := range c.values {
		n, err := literal(f, v, now, loc)
		if err != nil {
			return pr, err
		}
		pr.values = append(pr.values, n)
	}
	return pr, nil
}

// literal converts a value token to the int64 key space of field f:
// Id → the number (-1 if not numeric, matching nothing), datetimes → Unix
// nanoseconds, TxnDate → days since epoch, Active → 0 or 1.
func literal(f property, v token, now time.Time, loc *time.Location) (int64, error) {
	switch f {
	case propID:
		if v.kind != tokString && v.kind != tokNumber {
			return 0, invalid("invalid value %s for property Id", v.text)
		}
		n, err := strconv.ParseInt(v.text, 10, 64)
		if err != nil || n < 1 {
			return -1, nil
		}
		return n, nil
	case propActive:
		switch {
		case (v.kind == tokIdent || v.kind == tokString) && strings.EqualFold(v.text, "true"):
			return 1, nil
		case (v.kind == tokIdent || v.kind == tokString) && strings.EqualFold(v.text, "false"):
			return 0, nil
		}
		return 0, invalid("invalid value %s for property Active; use true or false", v.text)
	case propTxnDate:
		if v.kind == tokIdent && strings.EqualFold(v.text, "CURRENT_DATE") {
			return int64(civilDay(now.In(loc))), nil
		}
		if v.kind == tokString {
			if d, err := time.Parse(layoutDate, v.text); err == nil {
				return int64(civilDay(d)), nil
			}
			if t, ok := parseInstant(v.text); ok {
				return int64(civilDay(t)), nil
			}
		}
		return 0, invalid("invalid date %s for property TxnDate; use 'YYYY-MM-DD'", quoteLiteral(v))
	default: // datetimes
		if v.kind == tokString {
			if t, ok := parseInstant(v.text); ok {
				return t.UnixNano(), nil
			}
		}
		return 0, invalid("invalid datetime %s for property %s; use 'YYYY-MM-DDThh:mm:ss' with Z or a ±hh:mm offset", quoteLiteral(v), f)
	}
}

// parseInstant parses a datetime that carries Z or a numeric offset; one
// without a zone is rejected because it would name no instant.
func parseInstant(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// quoteLiteral renders a value token as it appeared.
func quoteLiteral(v token) string {
	if v.kind == tokString {
		return "'" + v.text + "'"
	}
	return v.text
}
