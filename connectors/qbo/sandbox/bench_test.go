package sandbox

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkServePage1000 pulls pages of 1000 invoices over loopback HTTP from
// a server holding 200,000 invoices, the way the loader back-fills a window,
// and reports records/s.
func BenchmarkServePage1000(b *testing.B) {
	const invoices, size = 200_000, 1000
	s, err := New(Options{Seed: 1, Customers: 2000, Items: 500, Invoices: invoices, RequestsPerMinute: -1, MaxInFlight: -1})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	e := &env{s: s, hs: hs, client: hs.Client()}
	tok := benchToken(b, e)
	const where = "WHERE MetaData.LastUpdatedTime >= '2019-01-01T00:00:00Z' AND MetaData.LastUpdatedTime < '2026-01-01T00:00:00Z'"
	urls := make([]string, invoices/size)
	for i := range urls {
		urls[i] = e.queryURL(s.RealmID(), fmt.Sprintf("SELECT * FROM Invoice %s ORDERBY MetaData.LastUpdatedTime STARTPOSITION %d MAXRESULTS %d", where, i*size+1, size))
	}
	var bytesRead int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req, _ := http.NewRequest(http.MethodGet, urls[i%len(urls)], nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := e.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("status %d err %v", res.StatusCode, err)
		}
		bytesRead += n
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
	b.SetBytes(bytesRead / int64(b.N))
}

// BenchmarkGenerate200kInvoices measures New for the loader benchmark's data
// set.
func BenchmarkGenerate200kInvoices(b *testing.B) {
	for b.Loop() {
		if _, err := New(Options{Seed: 1, Customers: 2000, Items: 500, Invoices: 200_000}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchToken(b *testing.B, e *env) string {
	b.Helper()
	tok, ok := e.s.auth.rotate(e.s.RefreshToken(), e.s.now())
	if !ok {
		b.Fatal("rotate failed")
	}
	return tok.AccessToken
}
