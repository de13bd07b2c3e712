package sandbox

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLexStringEscapes(t *testing.T) {
	toks, err := lex(`WHERE DisplayName = 'Adam\'s Candy Shop' AND x = 'back\\slash'`)
	if err != nil {
		t.Fatal(err)
	}
	if toks[3].kind != tokString || toks[3].text != "Adam's Candy Shop" {
		t.Errorf("escaped quote: %+v", toks[3])
	}
	if toks[7].text != `back\slash` {
		t.Errorf("escaped backslash: %q", toks[7].text)
	}
	if toks[3].line != 1 || toks[3].col != 21 {
		t.Errorf("position %d:%d, want 1:21", toks[3].line, toks[3].col)
	}
}

func TestParseAndCompile(t *testing.T) {
	now := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
	loc, err := loadPacific()
	if err != nil {
		t.Fatal(err)
	}
	ns := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	cases := []struct {
		stmt  string
		check func(t *testing.T, p *plan)
	}{
		{"select * from customer", func(t *testing.T, p *plan) {
			if p.kind != kindCustomer || p.count || p.start != 1 || p.max != 100 || p.order != propID {
				t.Errorf("plan %+v", p)
			}
			if len(p.preds) != 1 || p.preds[0].field != propActive || p.preds[0].values[0] != 1 {
				t.Errorf("implicit Active=true missing: %+v", p.preds)
			}
		}},
		{"SeLeCt CoUnT(*) FrOm InVoIcE", func(t *testing.T, p *plan) {
			if !p.count || p.kind != kindInvoice || len(p.preds) != 0 {
				t.Errorf("plan %+v", p)
			}
		}},
		{"SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '2024-07-01T05:00:00-07:00' AND MetaData.LastUpdatedTime < '2024-07-02T00:00:00Z' ORDERBY MetaData.LastUpdatedTime DESC STARTPOSITION 0 MAXRESULTS 1000", func(t *testing.T, p *plan) {
			if p.preds[0].op != opGe || p.preds[0].values[0] != ns("2024-07-01T12:00:00Z") {
				t.Errorf("lower bound %+v (offset not applied?)", p.preds[0])
			}
			if p.preds[1].op != opLt || p.preds[1].values[0] != ns("2024-07-02T00:00:00Z") {
				t.Errorf("upper bound %+v", p.preds[1])
			}
			if p.order != propUpdated || !p.desc || p.start != 1 || p.max != 1000 {
				t.Errorf("order/paging %+v", p)
			}
		}},
		{"SELECT * FROM Invoice ORDER BY metadata.createtime asc MAXRESULTS 5 STARTPOSITION 11", func(t *testing.T, p *plan) {
			if p.order != propCreated || p.desc || p.start != 11 || p.max != 5 {
				t.Errorf("plan %+v", p)
			}
		}},
		{"SELECT * FROM Item WHERE Active IN (true, false)", func(t *testing.T, p *plan) {
			if len(p.preds) != 1 || p.preds[0].op != opIn || len(p.preds[0].values) != 2 {
				t.Errorf("explicit Active must replace the implicit filter: %+v", p.preds)
			}
		}},
		{"SELECT * FROM Item WHERE Active = 'FALSE'", func(t *testing.T, p *plan) {
			if len(p.preds) != 1 || p.preds[0].values[0] != 0 {
				t.Errorf("preds %+v", p.preds)
			}
		}},
		{"SELECT * FROM Invoice WHERE Id IN ('3', 1, '\\2', 'x')", func(t *testing.T, p *plan) {
			if got := p.preds[0].values; len(got) != 4 || got[0] != 3 || got[1] != 1 || got[2] != 2 || got[3] != -1 {
				t.Errorf("Id values %v", got)
			}
		}},
		{"SELECT * FROM Invoice WHERE TxnDate > '2024-01-01' AND TxnDate <= CURRENT_DATE", func(t *testing.T, p *plan) {
			if p.preds[0].values[0] != int64(civilDay(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))) {
				t.Errorf("date literal %v", p.preds[0].values)
			}
			if p.preds[1].values[0] != int64(civilDay(now.In(loc))) {
				t.Errorf("CURRENT_DATE %v", p.preds[1].values)
			}
		}},
		{"SELECT *\nFROM Customer\nWHERE MetaData.CreateTime = '2024-07-01T12:00:00.5Z'", func(t *testing.T, p *plan) {
			if p.preds[0].field != propCreated || p.preds[0].values[0] != ns("2024-07-01T12:00:00Z")+5e8 {
				t.Errorf("fractional literal %+v", p.preds[0])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.stmt, func(t *testing.T) {
			st, err := parseStatement(tc.stmt)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			p, err := compile(st, now, loc)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			tc.check(t, p)
		})
	}
}

func TestQueryErrors(t *testing.T) {
	cases := []struct {
		stmt       string
		code       string // 4000 parse, 4001 validation
		wantDetail string // substring
	}{
		{"", "4000", `QueryParserError: Encountered <EOF> at line 1, column 1.`},
		{"SELECT * FROM Customer WHERE Id = '1' OR Id = '2'", "4000", `QueryParserError: Encountered "OR" at line 1, column 39.`},
		{"SELECT Id FROM Customer", "4000", `Encountered "Id" at line 1, column 8.`},
		{"SELECT * FROM Customer WHERE Id = 'unterminated", "4000", "unterminated string"},
		{"SELECT * FROM Customer WHERE Id != '1'", "4000", `Encountered "!="`},
		{"SELECT * FROM Customer ORDERBY Id STARTPOSITION 1 STARTPOSITION 2", "4000", `Encountered "STARTPOSITION" at line 1, column 51.`},
		{"SELECT * FROM Customer MAXRESULTS -5", "4000", `"-5"`},
		{"SELECT * FROM Customer MAXRESULTS 1001", "4001", "QueryValidationError: value 1001 is too large. Max allowed value is 1000"},
		{"SELECT * FROM Customer MAXRESULTS 0", "4001", "value 0 is too small"},
		{"SELECT * FROM Vendor", "4001", "Entity Vendor is not supported"},
		{"SELECT * FROM Customer WHERE DisplayName = 'x'", "4001", "property 'DisplayName' is not queryable for Customer"},
		{"SELECT * FROM Customer WHERE TxnDate = '2024-01-01'", "4001", "property 'TxnDate' is not queryable for Customer"},
		{"SELECT * FROM Invoice WHERE Active = true", "4001", "property 'Active' is not queryable for Invoice"},
		{"SELECT * FROM Invoice WHERE Id > '5'", "4001", "operator > is not supported for property Id"},
		{"SELECT * FROM Item WHERE Active <= true", "4001", "operator <= is not supported for property Active"},
		{"SELECT * FROM Item WHERE Active = 'yes'", "4001", "invalid value yes for property Active"},
		{"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2024-01-01T00:00:00'", "4001", "invalid datetime '2024-01-01T00:00:00'"},
		{"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2024-01-01'", "4001", "invalid datetime '2024-01-01'"},
		{"SELECT * FROM Invoice WHERE MetaData.CreateTime > 20240101", "4001", "invalid datetime 20240101"},
		{"SELECT * FROM Invoice WHERE TxnDate > 'yesterday'", "4001", "invalid date 'yesterday' for property TxnDate"},
		{"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime LIKE '2024%'", "4001", "operator LIKE is not supported"},
		{"SELECT * FROM Invoice ORDERBY DocNumber", "4001", "property 'DocNumber' is not sortable for Invoice"},
	}
	e := newEnv(t, smallOptions())
	tok := e.token()
	for _, tc := range cases {
		t.Run(tc.stmt, func(t *testing.T) {
			res := e.query(tok, tc.stmt)
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", res.status, res.body)
			}
			f := decodeFault(t, res.body)
			wantMessage := map[string]string{"4000": "Error parsing query", "4001": "Invalid query"}[tc.code]
			got := f.Fault.Error[0]
			if got.Code != tc.code || got.Message != wantMessage || f.Fault.Type != "ValidationFault" {
				t.Errorf("fault %+v type %s, want code %s message %q", got, f.Fault.Type, tc.code, wantMessage)
			}
			if !strings.Contains(got.Detail, tc.wantDetail) {
				t.Errorf("detail %q does not contain %q", got.Detail, tc.wantDetail)
			}
		})
	}
}

func TestParseErrorTypes(t *testing.T) {
	_, err := parseStatement("SELECT * FROM Customer WHERE")
	var pe *parseError
	if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "QueryParserError: ") {
		t.Errorf("want *parseError, got %T %v", err, err)
	}
	st, err := parseStatement("SELECT * FROM Customer MAXRESULTS 1500")
	if err != nil {
		t.Fatal(err)
	}
	_, err = compile(st, time.Now(), time.UTC)
	var ve *validationError
	if !errors.As(err, &ve) || err.Error() != "QueryValidationError: value 1500 is too large. Max allowed value is 1000" {
		t.Errorf("want *validationError, got %T %v", err, err)
	}
}
