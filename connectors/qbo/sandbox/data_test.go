package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// allPages fetches every record of entity (inactive included) page by page.
func (e *env) allPages(tok, entity string) [][]byte {
	e.t.Helper()
	active := ""
	if entity != EntityInvoice {
		active = "WHERE Active IN (true, false) "
	}
	var bodies [][]byte
	for start := 1; ; start += 40 {
		res := e.query(tok, fmt.Sprintf("SELECT * FROM %s %sORDERBY MetaData.LastUpdatedTime STARTPOSITION %d MAXRESULTS 40", entity, active, start))
		if res.status != 200 {
			e.t.Fatalf("page %d: %d %s", start, res.status, res.body)
		}
		bodies = append(bodies, res.body)
		if bytes.HasPrefix(res.body, []byte(`{"QueryResponse":{}`)) {
			return bodies
		}
	}
}

func TestDeterminism(t *testing.T) {
	o := smallOptions()
	o.Ties = []Tie{{Entity: EntityCustomer, Count: 3, At: time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)}}
	a, b := newEnv(t, o), newEnv(t, o)
	ta, tb := a.token(), b.token()
	if ta == tb {
		t.Fatal("access tokens of two servers are equal; they must be random")
	}
	for _, entity := range []string{EntityCustomer, EntityItem, EntityInvoice} {
		pa, pb := a.allPages(ta, entity), b.allPages(tb, entity)
		if len(pa) < 2 || len(pa) != len(pb) {
			t.Fatalf("%s: %d vs %d pages", entity, len(pa), len(pb))
		}
		for i := range pa {
			if !bytes.Equal(pa[i], pb[i]) {
				t.Errorf("%s page %d differs between servers with the same seed", entity, i)
			}
		}
	}
	o.Seed++
	c := newEnv(t, o)
	pa, pc := a.allPages(ta, EntityInvoice), c.allPages(c.token(), EntityInvoice)
	if bytes.Equal(pa[0], pc[0]) {
		t.Error("a different seed produced the same first page")
	}
	// A record does not depend on how many others were generated.
	o.Seed--
	o.Invoices = 40
	d := newEnv(t, o)
	for _, id := range []string{"1", "17", "40"} {
		x, _ := a.s.Payload(EntityInvoice, id)
		y, _ := d.s.Payload(EntityInvoice, id)
		if !bytes.Equal(x, y) {
			t.Errorf("invoice %s changed with the invoice count", id)
		}
	}
}

func TestPacificOffsetsAcrossDST(t *testing.T) {
	o := smallOptions()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	o.Ties = []Tie{
		{Entity: EntityItem, Count: 1, At: at("2024-01-15T12:00:00Z")},
		{Entity: EntityItem, Count: 1, At: at("2024-03-10T09:59:59Z")}, // last second of PST
		{Entity: EntityItem, Count: 1, At: at("2024-03-10T10:00:00Z")}, // first second of PDT
		{Entity: EntityItem, Count: 1, At: at("2024-07-01T12:00:00Z")},
		{Entity: EntityItem, Count: 1, At: at("2024-11-03T08:59:59Z")}, // 01:59:59 PDT
		{Entity: EntityItem, Count: 1, At: at("2024-11-03T09:00:00Z")}, // 01:00:00 PST again
	}
	want := []string{
		"2024-01-15T04:00:00-08:00",
		"2024-03-10T01:59:59-08:00",
		"2024-03-10T03:00:00-07:00",
		"2024-07-01T05:00:00-07:00",
		"2024-11-03T01:59:59-07:00",
		"2024-11-03T01:00:00-08:00",
	}
	e := newEnv(t, o)
	tok := e.token()
	_, rows := e.mustOK(tok, "SELECT * FROM Item WHERE Id IN ('13','14','15','16','17','18') ORDERBY Id")
	if len(rows) != len(want) {
		t.Fatalf("%d tie rows", len(rows))
	}
	for i, r := range rows {
		if r.MetaData.LastUpdatedTime != want[i] {
			t.Errorf("item %s LastUpdatedTime %s, want %s", r.ID, r.MetaData.LastUpdatedTime, want[i])
		}
	}
	// Every generated time names the same instant as Records and carries
	// the offset in force at that instant.
	loc, _ := loadPacific()
	recs := e.s.Records(EntityInvoice)
	seen := map[string]int{}
	_, inv := e.mustOK(tok, "SELECT * FROM Invoice MAXRESULTS 1000")
	for i, r := range inv {
		lu, err := time.Parse(layoutMetaTime, r.MetaData.LastUpdatedTime)
		if err != nil {
			t.Fatal(err)
		}
		if !lu.Equal(recs[i].LastUpdated) {
			t.Errorf("invoice %s: %s is not %s", r.ID, r.MetaData.LastUpdatedTime, recs[i].LastUpdated)
		}
		_, off := lu.In(loc).Zone()
		wantSuffix := map[int]string{-8 * 3600: "-08:00", -7 * 3600: "-07:00"}[off]
		if !strings.HasSuffix(r.MetaData.LastUpdatedTime, wantSuffix) {
			t.Errorf("invoice %s: %s should end in %s", r.ID, r.MetaData.LastUpdatedTime, wantSuffix)
		}
		seen[wantSuffix]++
	}
	if seen["-08:00"] == 0 || seen["-07:00"] == 0 {
		t.Errorf("want both offsets among invoices, got %v", seen)
	}
	// Winter clock: envelope time is PST.
	e.clock.Advance(-6 * 30 * 24 * time.Hour)
	qr, _ := e.mustOK(tok, "SELECT COUNT(*) FROM Item")
	if !strings.HasSuffix(qr.Time, "-08:00") {
		t.Errorf("winter envelope time %s", qr.Time)
	}
}

// Invoice is the part of an invoice payload the consistency test reads.
type invoiceDoc struct {
	ID          string `json:"Id"`
	Domain      string `json:"domain"`
	Sparse      *bool  `json:"sparse"`
	TxnDate     string
	DueDate     string
	TotalAmt    float64
	CustomerRef struct{ Value, Name string }
	Line        []struct {
		DetailType          string
		Amount              float64
		SalesItemLineDetail *struct {
			ItemRef   struct{ Value, Name string }
			UnitPrice float64
			Qty       float64
		}
	}
	TxnTaxDetail struct{ TotalTax float64 }
	MetaData     struct{ CreateTime, LastUpdatedTime string }
}

func TestPayloadConsistency(t *testing.T) {
	o := smallOptions()
	e := newEnv(t, o)
	tok := e.token()
	customers := map[string]string{}
	for _, body := range e.allPages(tok, EntityCustomer) {
		_, rows := decodeEnvelope(t, body)
		for _, r := range rows {
			customers[r.ID] = r.DisplayName
		}
	}
	items := map[string]string{}
	for _, body := range e.allPages(tok, EntityItem) {
		_, rows := decodeEnvelope(t, body)
		for _, r := range rows {
			items[r.ID] = r.Name
		}
	}
	if len(customers) != 30 || len(items) != 12 {
		t.Fatalf("%d customers %d items", len(customers), len(items))
	}
	res := e.query(tok, "SELECT * FROM Invoice MAXRESULTS 1000")
	var env struct {
		QueryResponse struct{ Invoice []invoiceDoc }
	}
	if err := json.Unmarshal(res.body, &env); err != nil {
		t.Fatal(err)
	}
	invs := env.QueryResponse.Invoice
	if len(invs) != 250 {
		t.Fatalf("%d invoices", len(invs))
	}
	subtotalLines, totalBytes := 0, 0
	for _, inv := range invs {
		p, _ := e.s.Payload(EntityInvoice, inv.ID)
		totalBytes += len(p)
		if inv.Domain != "QBO" || inv.Sparse == nil || *inv.Sparse {
			t.Errorf("invoice %s: domain %q sparse %v", inv.ID, inv.Domain, inv.Sparse)
		}
		if name, ok := customers[inv.CustomerRef.Value]; !ok || name != inv.CustomerRef.Name {
			t.Errorf("invoice %s: CustomerRef %+v does not match a customer (%q)", inv.ID, inv.CustomerRef, name)
		}
		sum := 0.0
		for _, l := range inv.Line {
			switch l.DetailType {
			case "SalesItemLineDetail":
				d := l.SalesItemLineDetail
				if name, ok := items[d.ItemRef.Value]; !ok || name != d.ItemRef.Name {
					t.Errorf("invoice %s: ItemRef %+v does not match an item", inv.ID, d.ItemRef)
				}
				if diff := d.UnitPrice*d.Qty - l.Amount; diff > 0.005 || diff < -0.005 {
					t.Errorf("invoice %s: %v x %v != %v", inv.ID, d.UnitPrice, d.Qty, l.Amount)
				}
				sum += l.Amount
			case "SubTotalLineDetail":
				subtotalLines++
				if diff := sum - l.Amount; diff > 0.005 || diff < -0.005 {
					t.Errorf("invoice %s: subtotal %v, lines sum %v", inv.ID, l.Amount, sum)
				}
			}
		}
		if diff := sum + inv.TxnTaxDetail.TotalTax - inv.TotalAmt; diff > 0.005 || diff < -0.005 {
			t.Errorf("invoice %s: total %v != %v + tax %v", inv.ID, inv.TotalAmt, sum, inv.TxnTaxDetail.TotalTax)
		}
		ct, err1 := time.Parse(layoutMetaTime, inv.MetaData.CreateTime)
		lu, err2 := time.Parse(layoutMetaTime, inv.MetaData.LastUpdatedTime)
		if err1 != nil || err2 != nil || ct.After(lu) {
			t.Errorf("invoice %s: CreateTime %s after LastUpdatedTime %s", inv.ID, inv.MetaData.CreateTime, inv.MetaData.LastUpdatedTime)
		}
		if lu.Before(time.Unix(DefaultDataStart, 0)) || !lu.Before(time.Unix(DefaultDataEnd, 0)) || ct.Before(time.Unix(DefaultDataStart, 0)) {
			t.Errorf("invoice %s: times outside the data range", inv.ID)
		}
		if inv.TxnDate != inv.MetaData.CreateTime[:10] || inv.DueDate < inv.TxnDate {
			t.Errorf("invoice %s: TxnDate %s DueDate %s CreateTime %s", inv.ID, inv.TxnDate, inv.DueDate, inv.MetaData.CreateTime)
		}
	}
	if subtotalLines != 250 {
		t.Errorf("%d SubTotalLineDetail lines, want one per invoice", subtotalLines)
	}
	if avg := totalBytes / len(invs); avg < 1200 || avg > 2000 {
		t.Errorf("average invoice %d bytes, want about 1.5 KB", avg)
	}
}

func TestGeneratedVariety(t *testing.T) {
	e := newEnv(t, Options{Seed: 3, Customers: 400, Items: 60, Invoices: 10})
	var all bytes.Buffer
	for _, k := range []string{EntityCustomer, EntityItem} {
		for _, r := range e.s.Records(k) {
			p, err := e.s.Payload(k, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(p) {
				t.Fatalf("%s %s: invalid JSON %s", k, r.ID, p)
			}
			all.Write(p)
		}
	}
	for _, want := range []string{`"Café Müller`, `"Ñandú Ltda.`, `"東京商事`, `"Lat":"INVALID"`, `"Long":"INVALID"`,
		`"Type":"Inventory"`, `"Type":"Service"`, `"Type":"NonInventory"`, `"Active":false`, `Bob's \"Best\" Bikes`, `Back\\Slash Tools`} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("generated data never contains %s", want)
		}
	}
	names := map[string]bool{}
	for _, r := range e.s.Records(EntityCustomer) {
		p, _ := e.s.Payload(EntityCustomer, r.ID)
		var c struct{ DisplayName string }
		_ = json.Unmarshal(p, &c)
		if names[c.DisplayName] {
			t.Errorf("duplicate DisplayName %q", c.DisplayName)
		}
		names[c.DisplayName] = true
	}
	inactive := 0
	for _, r := range e.s.Records(EntityCustomer) {
		if !r.Active {
			inactive++
		}
	}
	if inactive < 20 || inactive > 60 { // 10% of 400, loosely
		t.Errorf("%d inactive of 400 customers, want about 40", inactive)
	}
}

func TestOptionsValidation(t *testing.T) {
	base := func(mod func(*Options)) Options {
		o := Options{Customers: 1, Items: 1, Invoices: 1}
		mod(&o)
		return o
	}
	cases := map[string]Options{
		"negative count":       base(func(o *Options) { o.Items = -1 }),
		"end before start":     base(func(o *Options) { o.DataStart, o.DataEnd = time.Unix(100, 0), time.Unix(50, 0) }),
		"fraction above one":   base(func(o *Options) { o.InactiveFraction = 1.5 }),
		"unknown tie entity":   base(func(o *Options) { o.Ties = []Tie{{Entity: "Vendor", Count: 1, At: time.Now()}} }),
		"tie without time":     base(func(o *Options) { o.Ties = []Tie{{Entity: "Item", Count: 1}} }),
		"invoices no customer": base(func(o *Options) { o.Customers = 0 }),
		"negative fault":       base(func(o *Options) { o.Faults.Every429 = -2 }),
		"tiny ttl":             base(func(o *Options) { o.AccessTokenTTL = time.Millisecond }),
	}
	for name, o := range cases {
		if _, err := New(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: err %v, want ErrInvalidOptions", name, err)
		}
	}
	s, err := New(Options{})
	if err != nil {
		t.Fatalf("zero Options: %v", err)
	}
	if s.RealmID() != DefaultRealmID || s.RefreshToken() != DefaultRefreshToken || len(s.Records(EntityInvoice)) != 0 {
		t.Errorf("defaults not applied")
	}
	// Customers alone are fine, and a tie customer satisfies invoices.
	if _, err := New(Options{Items: 1, Invoices: 2, Ties: []Tie{{Entity: "customer", Count: 1, At: time.Now()}}}); err != nil {
		t.Errorf("tie customer should satisfy invoice refs: %v", err)
	}
	o := Options{Customers: 50, InactiveFraction: -1}
	s, _ = New(o)
	for _, r := range s.Records(EntityCustomer) {
		if !r.Active {
			t.Fatal("negative InactiveFraction must generate no inactive customers")
		}
	}
}
