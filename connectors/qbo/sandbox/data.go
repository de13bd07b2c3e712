package sandbox

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Deterministic record generation. Record i of an entity draws from its own
// PCG stream seeded by (Seed, entity, i), so a record never depends on the
// order in which others were generated and can be regenerated alone (Update
// re-encodes a record this way). Nothing here reads the clock or crypto/rand.

const (
	maxEditBackSeconds = 180 * secondsPerDay // CreateTime at most 180 days before LastUpdatedTime
	taxPercent         = 8
	usdCode            = "USD"
	usdName            = "United States Dollar"
)

// recordMeta holds the facts the store indexes and queries filter on.
type recordMeta struct {
	created, updated int64 // Unix seconds
	syncToken        int32
	active           bool
	txnDate          int32 // days since epoch, Invoice only
}

// address is a QBO PhysicalAddress.
type address struct {
	id, line1, city, state, zip, lat, long string
}

// customerModel is everything needed to render one Customer.
type customerModel struct {
	id                   int64
	meta                 recordMeta
	displayName, company string
	given, family        string
	phone, email         string
	delivery             string
	taxable              bool
	balance              int64 // cents
	addr                 address
}

// itemModel is everything needed to render one Item.
type itemModel struct {
	id          int64
	meta        recordMeta
	name        string
	itemType    string // Inventory, Service or NonInventory
	description string
	taxable     bool
	price, cost int64 // cents
	qtyOnHand   int64
	invStart    int32 // day, Inventory only
}

// lineModel is one SalesItemLineDetail line of an invoice.
type lineModel struct {
	item   int // index into generator.items
	qty    int64
	amount int64 // cents
}

// invoiceModel is everything needed to render one Invoice.
type invoiceModel struct {
	id          int64
	meta        recordMeta
	customer    int // index into generator.customers
	lines       []lineModel
	subtotal    int64 // cents
	taxable     int64 // cents subject to tax
	tax         int64 // cents
	total       int64 // cents
	balance     int64 // cents
	dueDate     int32
	term        int // index into salesTerms
	memo        int
	crew        int64 // CustomField value, 0 = none
	estimate    int64 // LinkedTxn Estimate id, 0 = none
	printStatus string
	emailStatus string
}

// salesTerm is a SalesTermRef and its due-date offset in days.
type salesTerm struct {
	id, name string
	days     int32
}

func salesTerms() [3]salesTerm {
	return [...]salesTerm{{"1", "Due on receipt", 0}, {"2", "Net 15", 15}, {"3", "Net 30", 30}}
}

// generator produces the records of one Server.
type generator struct {
	seed       uint64
	loc        *time.Location
	start, end int64 // Unix seconds, [start, end)
	inactive   float64
	counts     [numKinds]int     // regular records per kind
	ties       [numKinds][]int64 // LastUpdatedTime of tie records, in Id order after the regular ones
	customers  []customerModel   // all customers, by index (Id-1)
	items      []itemModel       // all items, by index (Id-1)
}

// newGenerator prepares a generator and builds the (small) Customer and Item
// models that invoices reference.
func newGenerator(o Options, loc *time.Location) *generator {
	g := &generator{
		seed:     uint64(o.Seed),
		loc:      loc,
		start:    o.DataStart.Unix(),
		end:      o.DataEnd.Unix(),
		inactive: o.InactiveFraction,
	}
	g.counts[kindCustomer], g.counts[kindItem], g.counts[kindInvoice] = o.Customers, o.Items, o.Invoices
	for _, t := range o.Ties {
		k, _ := entityKindByName(t.Entity) // validated by withDefaults
		for range t.Count {
			g.ties[k] = append(g.ties[k], t.At.Unix())
		}
	}
	g.customers = make([]customerModel, g.total(kindCustomer))
	names := make(map[string]struct{}, len(g.customers))
	for i := range g.customers {
		g.customers[i] = g.customer(i, names)
	}
	g.items = make([]itemModel, g.total(kindItem))
	clear(names)
	for i := range g.items {
		g.items[i] = g.item(i, names)
	}
	return g
}

// total is the number of records of kind, ties included.
func (g *generator) total(k entityKind) int { return g.counts[k] + len(g.ties[k]) }

// rng returns the private random stream of record i of kind k.
func (g *generator) rng(k entityKind, i int) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed, uint64(k+1)<<40|uint64(i)))
}

// drawMeta draws timestamps, SyncToken and the Active flag of record i.
func (g *generator) drawMeta(r *rand.Rand, k entityKind, i int) recordMeta {
	m := recordMeta{active: true}
	m.updated = g.start + r.Int64N(g.end-g.start)
	m.created = m.updated
	if r.IntN(10) >= 4 { // 60% were edited after creation
		back := min(m.updated-g.start, maxEditBackSeconds)
		m.created = m.updated - r.Int64N(back+1)
		if m.created < m.updated {
			m.syncToken = 1 + r.Int32N(5)
		}
	}
	if k.nameList() && r.Float64() < g.inactive {
		m.active = false
	}
	if j := i - g.counts[k]; j >= 0 { // a tie record
		m.updated = g.ties[k][j]
		m.active = true
		if m.created > m.updated || m.syncToken == 0 {
			m.created = m.updated
		}
	}
	if k == kindInvoice {
		m.txnDate = civilDay(time.Unix(m.created, 0).In(g.loc))
	}
	return m
}

// unique returns name, or name with the record Id appended when an earlier
// record already took it.
func unique(name string, id int64, taken map[string]struct{}) string {
	if _, dup := taken[name]; dup {
		name += " (" + strconv.FormatInt(id, 10) + ")"
	}
	taken[name] = struct{}{}
	return name
}

// customer generates Customer index i (Id i+1).
func (g *generator) customer(i int, taken map[string]struct{}) customerModel {
	r := g.rng(kindCustomer, i)
	companies, suffixes, givens, families := companyNames(), companySuffixes(), givenNames(), familyNames()
	c := customerModel{id: int64(i + 1)}
	c.company = companies[r.IntN(len(companies))] + suffixes[r.IntN(len(suffixes))]
	c.displayName = unique(c.company, c.id, taken)
	c.meta = g.drawMeta(r, kindCustomer, i)
	c.given = givens[r.IntN(len(givens))]
	c.family = families[r.IntN(len(families))]
	c.phone = "(415) 555-" + pad4(r.IntN(10000))
	c.email = asciiLower(c.given) + "." + strconv.FormatInt(c.id, 10) + "@example.com"
	c.delivery = [...]string{"Print", "Email", "None"}[r.IntN(3)]
	c.taxable = r.IntN(2) == 0
	if r.IntN(2) == 0 {
		c.balance = r.Int64N(500000)
	}
	c.addr = g.drawAddress(r, 1000+c.id)
	return c
}

// item generates Item index i (Id i+1).
func (g *generator) item(i int, taken map[string]struct{}) itemModel {
	r := g.rng(kindItem, i)
	names, qualifiers := itemNames(), itemQualifiers()
	it := itemModel{id: int64(i + 1)}
	base := names[r.IntN(len(names))] + qualifiers[r.IntN(len(qualifiers))]
	it.name = unique(base, it.id, taken)
	it.meta = g.drawMeta(r, kindItem, i)
	it.itemType = [...]string{"Inventory", "Inventory", "Service", "Service", "NonInventory"}[r.IntN(5)]
	it.description = base
	it.taxable = r.IntN(3) != 0
	it.price = 100 + r.Int64N(4000)*25 // $1.00 .. $1000.75 in quarter steps
	it.cost = it.price * (50 + r.Int64N(30)) / 100
	if it.itemType == "Inventory" {
		it.qtyOnHand = r.Int64N(500)
		it.invStart = civilDay(time.Unix(it.meta.created, 0).In(g.loc))
	}
	return it
}

// invoice generates Invoice index i (Id i+1).
func (g *generator) invoice(i int) invoiceModel {
	r := g.rng(kindInvoice, i)
	inv := invoiceModel{id: int64(i + 1)}
	inv.meta = g.drawMeta(r, kindInvoice, i)
	inv.customer = r.IntN(len(g.customers))
	n := lineCount(r.IntN(20))
	inv.lines = make([]lineModel, n)
	for j := range inv.lines {
		l := lineModel{item: r.IntN(len(g.items)), qty: 1 + r.Int64N(10)}
		it := &g.items[l.item]
		l.amount = l.qty * it.price
		inv.subtotal += l.amount
		if it.taxable {
			inv.taxable += l.amount
		}
		inv.lines[j] = l
	}
	if g.customers[inv.customer].taxable {
		inv.tax = (inv.taxable*taxPercent + 50) / 100
	} else {
		inv.taxable = 0
	}
	inv.total = inv.subtotal + inv.tax
	switch p := r.IntN(10); {
	case p < 6:
		inv.balance = 0 // paid
	case p < 9:
		inv.balance = inv.total
	default:
		inv.balance = inv.total / 2
	}
	inv.term = r.IntN(3)
	inv.dueDate = inv.meta.txnDate + salesTerms()[inv.term].days
	inv.memo = r.IntN(len(memos()))
	if r.IntN(2) == 0 {
		inv.crew = 100 + r.Int64N(900)
	}
	if r.IntN(5) == 0 {
		inv.estimate = 10000 + int64(i)
	}
	inv.printStatus = [...]string{"NeedToPrint", "NotSet", "PrintComplete"}[r.IntN(3)]
	inv.emailStatus = [...]string{"NotSet", "NeedToSend", "EmailSent"}[r.IntN(3)]
	return inv
}

// lineCount maps a draw in [0,20) to 1..4 sales lines (50/30/15/5%), for
// invoices of about 1.5 KB on average.
func lineCount(d int) int {
	switch {
	case d < 10:
		return 1
	case d < 16:
		return 2
	case d < 19:
		return 3
	default:
		return 4
	}
}

// drawAddress draws a postal address; one in twenty has Lat/Long "INVALID"
// as QBO reports for addresses it could not geocode.
func (g *generator) drawAddress(r *rand.Rand, id int64) address {
	cs, ss := cities(), streets()
	c := cs[r.IntN(len(cs))]
	a := address{
		id:    strconv.FormatInt(id, 10),
		line1: strconv.Itoa(1+r.IntN(9999)) + " " + ss[r.IntN(len(ss))],
		city:  c.Name, state: c.State, zip: c.Zip,
		lat: "INVALID", long: "INVALID",
	}
	jitterLat, jitterLong := (r.Float64()-0.5)/50, (r.Float64()-0.5)/50
	if r.IntN(20) != 0 {
		a.lat = strconv.FormatFloat(c.Lat+jitterLat, 'f', 7, 64)
		a.long = strconv.FormatFloat(c.Long+jitterLong, 'f', 7, 64)
	}
	return a
}

// pad4 formats n as four digits.
func pad4(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", max(0, 4-len(s))) + s
}

// asciiLower keeps the ASCII letters of s, lower-cased ("José" → "jos").
func asciiLower(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	if b.Len() == 0 {
		return "contact"
	}
	return b.String()
}
