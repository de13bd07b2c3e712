package sandbox

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEnvelopes(t *testing.T) {
	e := newEnv(t, smallOptions())
	tok := e.token()

	t.Run("rows", func(t *testing.T) {
		res := e.query(tok, "SELECT * FROM Invoice STARTPOSITION 3 MAXRESULTS 4")
		if ct := res.header.Get("Content-Type"); ct != "application/json;charset=UTF-8" {
			t.Errorf("Content-Type %q", ct)
		}
		qr, rows := decodeEnvelope(t, res.body)
		if got := strings.Join(ids(rows), ","); got != "3,4,5,6" {
			t.Errorf("ids %s", got)
		}
		if intField(t, qr, "startPosition") != 3 || intField(t, qr, "maxResults") != 4 {
			t.Errorf("envelope %s", res.body)
		}
		if _, ok := qr.QueryResponse["totalCount"]; ok {
			t.Error("SELECT * envelope must not carry totalCount")
		}
		if !regexp.MustCompile(`^2026-07-15T11:30:45\.123-07:00$`).MatchString(qr.Time) {
			t.Errorf("time %q, want Pacific with ms and offset", qr.Time)
		}
		if !bytes.HasPrefix(res.body, []byte(`{"QueryResponse":{"Invoice":[{`)) ||
			!bytes.HasSuffix(res.body, []byte(`}],"startPosition":3,"maxResults":4},"time":"2026-07-15T11:30:45.123-07:00"}`)) {
			t.Errorf("envelope layout: %.80s … %s", res.body, res.body[len(res.body)-90:])
		}
	})
	t.Run("maxResults is rows returned", func(t *testing.T) {
		qr, rows := e.mustOK(tok, "SELECT * FROM Invoice STARTPOSITION 241 MAXRESULTS 100")
		if len(rows) != 10 || intField(t, qr, "maxResults") != 10 || intField(t, qr, "startPosition") != 241 {
			t.Errorf("last page: %d rows, envelope %v", len(rows), qr.QueryResponse)
		}
	})
	t.Run("empty has no entity key", func(t *testing.T) {
		res := e.query(tok, "SELECT * FROM Invoice STARTPOSITION 251")
		want := `{"QueryResponse":{},"time":"2026-07-15T11:30:45.123-07:00"}`
		if res.status != 200 || string(res.body) != want {
			t.Errorf("got %d %s, want %s", res.status, res.body, want)
		}
	})
	t.Run("count", func(t *testing.T) {
		res := e.query(tok, "select count(*) from Invoice")
		want := `{"QueryResponse":{"totalCount":250},"time":"2026-07-15T11:30:45.123-07:00"}`
		if string(res.body) != want {
			t.Errorf("got %s, want %s", res.body, want)
		}
		res = e.query(tok, "SELECT COUNT(*) FROM Invoice WHERE Id IN ('1','2','999') STARTPOSITION 2 MAXRESULTS 1")
		if qr, _ := decodeEnvelope(t, res.body); intField(t, qr, "totalCount") != 2 {
			t.Errorf("count ignores paging: %s", res.body)
		}
	})
	t.Run("POST application/text", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/v3/company/"+e.s.RealmID()+"/query?minorversion=75",
			strings.NewReader("SELECT * FROM Item WHERE Id = '2'"))
		req.Header.Set("Content-Type", "application/text")
		req.Header.Set("Authorization", "Bearer "+tok)
		res := e.do(req)
		_, rows := decodeEnvelope(t, res.body)
		if res.status != 200 || len(rows) != 1 || rows[0].ID != "2" {
			t.Errorf("POST query: %d %s", res.status, res.body)
		}
	})
	if st := e.s.Stats(); st.SelectQueries != 4 || st.CountQueries != 2 || st.RecordsServed != 15 || st.Status200 != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestActiveFilter(t *testing.T) {
	o := smallOptions()
	o.InactiveFraction = 0.3
	e := newEnv(t, o)
	tok := e.token()
	for _, entity := range []string{EntityCustomer, EntityItem} {
		var active, inactive []string
		for _, r := range e.s.Records(entity) {
			if r.Active {
				active = append(active, r.ID)
			} else {
				inactive = append(inactive, r.ID)
			}
		}
		if len(inactive) == 0 || len(active) == 0 {
			t.Fatalf("%s: %d active %d inactive; want both", entity, len(active), len(inactive))
		}
		cases := []struct {
			where string
			want  []string
		}{
			{"", active},
			{"WHERE Active = true", active},
			{"WHERE Active = false", inactive},
			{"WHERE Active IN (false)", inactive},
			{"WHERE Active IN (true, false)", append(slices.Clone(active), inactive...)},
			{"WHERE active in (TRUE,FALSE)", append(slices.Clone(active), inactive...)},
		}
		for _, tc := range cases {
			_, rows := e.mustOK(tok, fmt.Sprintf("SELECT * FROM %s %s MAXRESULTS 1000", entity, tc.where))
			got := ids(rows)
			want := slices.Clone(tc.want)
			slices.SortFunc(want, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
			if !slices.Equal(got, want) {
				t.Errorf("%s %q: got %v, want %v", entity, tc.where, got, want)
			}
			for _, r := range rows {
				if r.Active == nil {
					t.Errorf("%s %s has no Active field", entity, r.ID)
				}
			}
			qr, _ := e.mustOK(tok, fmt.Sprintf("SELECT COUNT(*) FROM %s %s", entity, tc.where))
			if n := intField(t, qr, "totalCount"); n != len(want) {
				t.Errorf("COUNT %s %q = %d, want %d", entity, tc.where, n, len(want))
			}
		}
	}
	qr, _ := e.mustOK(tok, "SELECT COUNT(*) FROM Invoice")
	if intField(t, qr, "totalCount") != 250 {
		t.Errorf("invoices have no Active filter: %v", qr.QueryResponse)
	}
}

func TestPagingArithmetic(t *testing.T) {
	e := newEnv(t, smallOptions())
	tok := e.token()
	const window = "WHERE MetaData.LastUpdatedTime >= '2019-01-01T00:00:00Z' AND MetaData.LastUpdatedTime < '2026-01-01T00:00:00Z'"
	all := e.s.Records(EntityInvoice)
	slices.SortFunc(all, func(a, b RecordInfo) int {
		if c := a.LastUpdated.Compare(b.LastUpdated); c != 0 {
			return c
		}
		x, _ := strconv.Atoi(a.ID)
		y, _ := strconv.Atoi(b.ID)
		return x - y
	})
	var want []string
	for _, r := range all {
		want = append(want, r.ID)
	}
	for _, size := range []int{1, 7, 100, 250, 1000} {
		var got []string
		pages := 0
		for start := 1; ; start += size {
			qr, rows := e.mustOK(tok, fmt.Sprintf("SELECT * FROM Invoice %s ORDERBY MetaData.LastUpdatedTime STARTPOSITION %d MAXRESULTS %d", window, start, size))
			if len(rows) == 0 {
				if _, ok := qr.QueryResponse["Invoice"]; ok {
					t.Fatal("empty page carries the entity key")
				}
				break
			}
			pages++
			if intField(t, qr, "startPosition") != start || intField(t, qr, "maxResults") != len(rows) {
				t.Fatalf("page at %d: %v", start, qr.QueryResponse)
			}
			got = append(got, ids(rows)...)
			if len(rows) < size {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("size %d: paged ids differ from (LastUpdatedTime, Id) order", size)
		}
		if wantPages := (250 + size - 1) / size; pages != wantPages {
			t.Errorf("size %d: %d pages, want %d", size, pages, wantPages)
		}
	}
	_, zero := e.mustOK(tok, "SELECT * FROM Invoice STARTPOSITION 0 MAXRESULTS 3")
	_, one := e.mustOK(tok, "SELECT * FROM Invoice STARTPOSITION 1 MAXRESULTS 3")
	if !slices.Equal(ids(zero), []string{"1", "2", "3"}) || !slices.Equal(ids(zero), ids(one)) {
		t.Errorf("STARTPOSITION 0 %v vs 1 %v", ids(zero), ids(one))
	}
	_, def := e.mustOK(tok, "SELECT * FROM Invoice")
	if len(def) != 100 || def[0].ID != "1" || def[99].ID != "100" {
		t.Errorf("default page: %d rows", len(def))
	}
}

func TestOrderingAndFilters(t *testing.T) {
	o := smallOptions()
	tieAt := time.Date(2023, 5, 5, 10, 0, 0, 0, time.UTC)
	o.Ties = []Tie{{Entity: "invoice", Count: 5, At: tieAt}}
	e := newEnv(t, o)
	tok := e.token()
	recs := e.s.Records(EntityInvoice)
	if len(recs) != 255 {
		t.Fatalf("%d invoices, want 255", len(recs))
	}
	t.Run("ORDER BY equals ORDERBY", func(t *testing.T) {
		a := e.query(tok, "SELECT * FROM Invoice ORDER BY MetaData.LastUpdatedTime MAXRESULTS 50")
		b := e.query(tok, "select * from invoice orderby Metadata.LastUpdatedTime asc maxresults 50")
		if !bytes.Equal(a.body, b.body) {
			t.Error("ORDER BY and ORDERBY differ")
		}
	})
	t.Run("ties broken by Id", func(t *testing.T) {
		for _, q := range []string{
			"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime = '2023-05-05T10:00:00Z' ORDERBY MetaData.LastUpdatedTime",
			"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime = '2023-05-05T03:00:00-07:00' ORDERBY MetaData.LastUpdatedTime DESC",
			"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime IN ('2023-05-05T03:00:00-0700')",
		} {
			_, rows := e.mustOK(tok, q)
			if got := strings.Join(ids(rows), ","); got != "251,252,253,254,255" {
				t.Errorf("%s: ids %s", q, got)
			}
		}
	})
	t.Run("DESC", func(t *testing.T) {
		_, rows := e.mustOK(tok, "SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime DESC MAXRESULTS 1000")
		for i := 1; i < len(rows); i++ {
			a, _ := time.Parse(layoutMetaTime, rows[i-1].MetaData.LastUpdatedTime)
			b, _ := time.Parse(layoutMetaTime, rows[i].MetaData.LastUpdatedTime)
			if a.Before(b) {
				t.Fatalf("row %d not descending: %s then %s", i, rows[i-1].MetaData.LastUpdatedTime, rows[i].MetaData.LastUpdatedTime)
			}
		}
		_, byID := e.mustOK(tok, "SELECT * FROM Invoice ORDERBY Id DESC MAXRESULTS 2")
		if strings.Join(ids(byID), ",") != "255,254" {
			t.Errorf("ORDERBY Id DESC: %v", ids(byID))
		}
	})
	t.Run("CreateTime and TxnDate", func(t *testing.T) {
		_, rows := e.mustOK(tok, "SELECT * FROM Invoice WHERE TxnDate >= '2021-01-01' AND TxnDate < '2022-01-01' ORDERBY MetaData.CreateTime MAXRESULTS 1000")
		if len(rows) == 0 {
			t.Fatal("no invoices in 2021")
		}
		prev := time.Time{}
		for _, r := range rows {
			if !strings.HasPrefix(r.TxnDate, "2021-") {
				t.Errorf("invoice %s TxnDate %s outside 2021", r.ID, r.TxnDate)
			}
			ct, err := time.Parse(layoutMetaTime, r.MetaData.CreateTime)
			if err != nil || ct.Before(prev) {
				t.Errorf("CreateTime order broken at %s", r.ID)
			}
			prev = ct
		}
		qr, _ := e.mustOK(tok, "SELECT COUNT(*) FROM Invoice WHERE TxnDate >= '2021-01-01' AND TxnDate < '2022-01-01'")
		if intField(t, qr, "totalCount") != len(rows) {
			t.Errorf("COUNT disagrees with rows")
		}
	})
	t.Run("window bounds are instants", func(t *testing.T) {
		utc := e.query(tok, "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2022-03-01T08:00:00Z' AND MetaData.LastUpdatedTime < '2022-09-01T07:00:00Z' MAXRESULTS 1000")
		pac := e.query(tok, "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2022-03-01T00:00:00-08:00' AND MetaData.LastUpdatedTime < '2022-09-01T00:00:00-07:00' MAXRESULTS 1000")
		if !bytes.Equal(utc.body, pac.body) {
			t.Error("same instants in different offsets gave different rows")
		}
		_, rows := decodeEnvelope(t, utc.body)
		lo := time.Date(2022, 3, 1, 8, 0, 0, 0, time.UTC)
		hi := time.Date(2022, 9, 1, 7, 0, 0, 0, time.UTC)
		want := 0
		for _, r := range recs {
			if !r.LastUpdated.Before(lo) && r.LastUpdated.Before(hi) {
				want++
			}
		}
		if len(rows) != want || want == 0 {
			t.Errorf("window rows %d, want %d", len(rows), want)
		}
	})
	t.Run("Id IN and escapes", func(t *testing.T) {
		_, rows := e.mustOK(tok, `SELECT * FROM Invoice WHERE Id IN ('7', '3', 3, '\9', 'nope', '100000') ORDERBY Id`)
		if got := strings.Join(ids(rows), ","); got != "3,7,9" {
			t.Errorf("Id IN: %s", got)
		}
		_, rows = e.mustOK(tok, `SELECT * FROM Invoice WHERE Id = '12' AND MetaData.LastUpdatedTime > '2000-01-01T00:00:00Z'`)
		if len(rows) != 1 || rows[0].ID != "12" {
			t.Errorf("Id = with another term: %v", ids(rows))
		}
	})
}
