package sandbox

import (
	"fmt"
	"strconv"
	"strings"
)

// The grammar accepted (keywords, entity and property names are
// case-insensitive):
//
//	SELECT ( * | COUNT(*) ) FROM <Entity>
//	  [ WHERE <Prop> <op> <value> { AND <Prop> <op> <value> } ]
//	  [ ORDERBY | ORDER BY <Prop> [ ASC | DESC ] ]
//	  [ STARTPOSITION <n> ] [ MAXRESULTS <m> ]   (either order)
//
// op is one of = < > <= >= IN LIKE; value is a 'quoted string' (backslash
// escapes), a number, true, false, an identifier such as CURRENT_DATE, or a
// parenthesised list after IN. OR is rejected, as QBO does. Meaning
// (which properties exist, which operators they allow, literal formats) is
// checked later by compile.

// statement is a parsed query, before validation against an entity.
type statement struct {
	count      bool
	entity     token
	conds      []condition
	order      *orderClause
	start, max int
	hasStart   bool
	hasMax     bool
}

// condition is one "<Prop> <op> <value>" term of the WHERE clause.
type condition struct {
	field  token
	op     string // upper-case: = < > <= >= IN LIKE
	values []token
}

// orderClause is the ORDERBY clause.
type orderClause struct {
	field token
	desc  bool
}

// parser walks a token slice.
type parser struct {
	toks []token
	pos  int
}

// parseStatement parses src or returns a *parseError.
func parseStatement(src string) (*statement, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	return p.statement()
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

// unexpected builds the QueryParserError for t.
func unexpected(t token, expected ...string) error {
	msg := fmt.Sprintf("Encountered %s at line %d, column %d.", t.describe(), t.line, t.col)
	if len(expected) > 0 {
		msg += " Was expecting one of: " + strings.Join(expected, ", ")
	}
	return &parseError{msg}
}

// keyword consumes the keyword kw or fails.
func (p *parser) keyword(kw string) error {
	if t := p.next(); !t.is(kw) {
		return unexpected(t, `"`+kw+`"`)
	}
	return nil
}

// expect consumes a token of kind k or fails.
func (p *parser) expect(k tokenKind, what string) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, unexpected(t, what)
	}
	return t, nil
}

func (p *parser) statement() (*statement, error) {
	st := &statement{}
	if err := p.keyword("SELECT"); err != nil {
		return nil, err
	}
	switch t := p.next(); {
	case t.kind == tokStar:
	case t.is("COUNT"):
		st.count = true
		if _, err := p.expect(tokLParen, `"("`); err != nil {
			return nil, err
		}
		if _, err := p.expect(tokStar, `"*"`); err != nil {
			return nil, err
		}
		if _, err := p.expect(tokRParen, `")"`); err != nil {
			return nil, err
		}
	default:
		return nil, unexpected(t, `"*"`, `"COUNT"`)
	}
	if err := p.keyword("FROM"); err != nil {
		return nil, err
	}
	ent, err := p.expect(tokIdent, "<entity name>")
	if err != nil {
		return nil, err
	}
	st.entity = ent
	if p.peek().is("WHERE") {
		p.next()
		if err := p.where(st); err != nil {
			return nil, err
		}
	}
	if err := p.orderBy(st); err != nil {
		return nil, err
	}
	if err := p.paging(st); err != nil {
		return nil, err
	}
	return st, nil
}

// where parses cond { AND cond }.
func (p *parser) where(st *statement) error {
	for {
		c, err := p.condition()
		if err != nil {
			return err
		}
		st.conds = append(st.conds, c)
		if !p.peek().is("AND") {
			return nil
		}
		p.next()
	}
}

func (p *parser) condition() (condition, error) {
	var c condition
	field, err := p.expect(tokIdent, "<property name>")
	if err != nil {
		return c, err
	}
	c.field = field
	op := p.next()
	switch {
	case op.kind == tokOp && (op.text == "=" || op.text == "<" || op.text == ">" || op.text == "<=" || op.text == ">="):
		c.op = op.text
	case op.is("IN"):
		c.op = "IN"
	case op.is("LIKE"):
		c.op = "LIKE"
	default:
		return c, unexpected(op, `"="`, `"<"`, `">"`, `"<="`, `">="`, `"IN"`, `"LIKE"`)
	}
	if c.op == "IN" {
		c.values, err = p.list()
		return c, err
	}
	v, err := p.value()
	if err != nil {
		return c, err
	}
	c.values = []token{v}
	return c, nil
}

// value consumes one literal.
func (p *parser) value() (token, error) {
	t := p.next()
	switch t.kind {
	case tokString, tokNumber:
		return t, nil
	case tokIdent:
		if isReserved(t.text) {
			return t, unexpected(t, "<value>")
		}
		return t, nil
	default:
		return t, unexpected(t, "<value>")
	}
}

// list consumes "(" value { "," value } ")".
func (p *parser) list() ([]token, error) {
	if _, err := p.expect(tokLParen, `"("`); err != nil {
		return nil, err
	}
	var vals []token
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		switch t := p.next(); t.kind {
		case tokComma:
		case tokRParen:
			return vals, nil
		default:
			return nil, unexpected(t, `","`, `")"`)
		}
	}
}

// orderBy parses an optional ORDERBY / ORDER BY clause.
func (p *parser) orderBy(st *statement) error {
	switch t := p.peek(); {
	case t.is("ORDERBY"):
		p.next()
	case t.is("ORDER"):
		p.next()
		if err := p.keyword("BY"); err != nil {
			return err
		}
	default:
		return nil
	}
	field, err := p.expect(tokIdent, "<property name>")
	if err != nil {
		return err
	}
	st.order = &orderClause{field: field}
	switch t := p.peek(); {
	case t.is("ASC"):
		p.next()
	case t.is("DESC"):
		p.next()
		st.order.desc = true
	}
	return nil
}

// paging parses STARTPOSITION and MAXRESULTS (each at most once, any order)
// and requires the end of the statement.
func (p *parser) paging(st *statement) error {
	for {
		t := p.next()
		var dst *int
		var seen *bool
		switch {
		case t.kind == tokEOF:
			return nil
		case t.is("STARTPOSITION") && !st.hasStart:
			dst, seen = &st.start, &st.hasStart
		case t.is("MAXRESULTS") && !st.hasMax:
			dst, seen = &st.max, &st.hasMax
		default:
			return unexpected(t, p.expectedAfter(st)...)
		}
		n, err := p.expect(tokNumber, "<INTEGER>")
		if err != nil {
			return err
		}
		v, err := strconv.Atoi(n.text)
		if err != nil || v < 0 || strings.HasPrefix(n.text, "+") {
			return unexpected(n, "<INTEGER>")
		}
		*dst, *seen = v, true
	}
}

// expectedAfter lists what could follow at the current point.
func (p *parser) expectedAfter(st *statement) []string {
	exp := []string{"<EOF>"}
	if st.order == nil && !st.hasStart && !st.hasMax {
		if len(st.conds) > 0 {
			exp = append(exp, `"AND"`)
		} else {
			exp = append(exp, `"WHERE"`)
		}
		exp = append(exp, `"ORDER"`, `"ORDERBY"`)
	}
	if !st.hasStart {
		exp = append(exp, `"STARTPOSITION"`)
	}
	if !st.hasMax {
		exp = append(exp, `"MAXRESULTS"`)
	}
	return exp
}

// isReserved reports whether an identifier is a keyword that cannot be a
// value.
func isReserved(s string) bool {
	switch strings.ToUpper(s) {
	case "SELECT", "FROM", "WHERE", "AND", "OR", "IN", "LIKE", "ORDER", "ORDERBY", "BY",
		"ASC", "DESC", "STARTPOSITION", "MAXRESULTS", "COUNT":
		return true
	}
	return false
}
