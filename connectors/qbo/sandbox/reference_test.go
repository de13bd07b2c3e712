package sandbox

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestMatchesBruteForce checks windows, operators, ordering and paging on
// dense data (many records per second and per minute) against a brute-force
// evaluation over Records.
func TestMatchesBruteForce(t *testing.T) {
	start := time.Date(2024, 3, 10, 9, 58, 0, 0, time.UTC) // spans the PST→PDT switch
	o := Options{Seed: 11, Customers: 5, Items: 5, Invoices: 300, DataStart: start, DataEnd: start.Add(4 * time.Minute)}
	e := newEnv(t, o)
	tok := e.token()
	recs := e.s.Records(EntityInvoice)
	r := rand.New(rand.NewPCG(1, 2))
	ops := []struct {
		sql  string
		keep func(x, bound time.Time) bool
	}{
		{">=", func(x, b time.Time) bool { return !x.Before(b) }},
		{">", func(x, b time.Time) bool { return x.After(b) }},
		{"<", func(x, b time.Time) bool { return x.Before(b) }},
		{"<=", func(x, b time.Time) bool { return !x.After(b) }},
		{"=", func(x, b time.Time) bool { return x.Equal(b) }},
	}
	for i := range 40 {
		lo := start.Add(time.Duration(r.IntN(240)) * time.Second)
		hi := lo.Add(time.Duration(1+r.IntN(120)) * time.Second)
		opLo, opHi := ops[r.IntN(2)], ops[2+r.IntN(3)]
		field, get := "MetaData.LastUpdatedTime", func(ri RecordInfo) time.Time { return ri.LastUpdated }
		if i%4 == 3 {
			field, get = "MetaData.CreateTime", func(ri RecordInfo) time.Time { return ri.Created }
		}
		desc := i%3 == 0
		var want []RecordInfo
		for _, ri := range recs {
			if opLo.keep(get(ri), lo) && opHi.keep(get(ri), hi) {
				want = append(want, ri)
			}
		}
		slices.SortStableFunc(want, func(a, b RecordInfo) int {
			c := get(a).Compare(get(b))
			if desc {
				c = -c
			}
			if c != 0 {
				return c
			}
			x, _ := strconv.Atoi(a.ID)
			y, _ := strconv.Atoi(b.ID)
			return x - y
		})
		dir := "ASC"
		if desc {
			dir = "DESC"
		}
		size := 1 + r.IntN(30)
		var got []string
		for pos := 1; ; pos += size {
			stmt := fmt.Sprintf("SELECT * FROM Invoice WHERE %s %s '%s' AND %s %s '%s' ORDER BY %s %s STARTPOSITION %d MAXRESULTS %d",
				field, opLo.sql, lo.In(time.FixedZone("", -5*3600)).Format(time.RFC3339),
				field, opHi.sql, hi.Format(time.RFC3339), field, dir, pos, size)
			_, rows := e.mustOK(tok, stmt)
			got = append(got, ids(rows)...)
			if len(rows) < size {
				break
			}
		}
		var wantIDs []string
		for _, ri := range want {
			wantIDs = append(wantIDs, ri.ID)
		}
		if !slices.Equal(got, wantIDs) {
			t.Errorf("%s %s %s AND %s %s %s %s size %d:\n got %v\nwant %v", field, opLo.sql, lo, field, opHi.sql, hi, dir, size, got, wantIDs)
		}
		qr, _ := e.mustOK(tok, fmt.Sprintf("SELECT COUNT(*) FROM Invoice WHERE %s %s '%s' AND %s %s '%s'",
			field, opLo.sql, lo.Format(time.RFC3339), field, opHi.sql, hi.Format(time.RFC3339)))
		if n := intField(t, qr, "totalCount"); n != len(want) {
			t.Errorf("COUNT %d, want %d", n, len(want))
		}
	}
}
