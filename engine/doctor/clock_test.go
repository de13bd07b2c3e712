package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
	"github.com/etl-engine/etl/internal/pgtest"
)

// TestClockSkewPostgres compares an injected local clock with the real
// server's: the server runs on this machine, so the offset is the one
// injected.
func TestClockSkewPostgres(t *testing.T) {
	pg := pgtest.New(t)
	tests := []struct {
		name   string
		offset time.Duration // added to the local clock
		status Status
		detail string
	}{
		{"in step", 0, StatusOK, "the local clock is"},
		{"local 5s ahead", 5 * time.Second, StatusWarn, "ahead of the PostgreSQL server"},
		{"local 5s behind", -5 * time.Second, StatusWarn, "behind the PostgreSQL server"},
		{"local 90s ahead", 90 * time.Second, StatusFail, "more than 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := func() time.Time { return time.Now().Add(tt.offset) }
			checks := ClockSkew(context.Background(), ClockInput{Now: now, DB: pg.Pool})
			c := byName(t, checks, CheckClockPostgres)
			if c.Status != tt.status || !strings.Contains(c.Detail, tt.detail) {
				t.Errorf("got %+v, want %s with %q", c, tt.status, tt.detail)
			}
			if tt.status != StatusOK && !strings.Contains(c.Fix, "NTP") {
				t.Errorf("fix: %q", c.Fix)
			}
			if q := byName(t, checks, CheckClockQBO); q.Status != StatusSkip {
				t.Errorf("no QBO URL, yet %+v", q)
			}
		})
	}
	if c := byName(t, ClockSkew(context.Background(), ClockInput{}), CheckClockPostgres); c.Status != StatusSkip {
		t.Errorf("without a database: %+v", c)
	}
}

// TestClockSkewQBO serves a Date header at a chosen offset from a frozen
// local clock.
func TestClockSkewQBO(t *testing.T) {
	local := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	frozen := func() time.Time { return local }
	tests := []struct {
		name   string
		date   string // the Date header; "-" for none
		status Status
		detail string
	}{
		{"same second", local.Format(http.TimeFormat), StatusOK, "the local clock is 500ms behind QBO"},
		{"QBO 3s ahead", local.Add(3 * time.Second).Format(http.TimeFormat), StatusWarn, "3.5s behind QBO"},
		{"QBO 62s behind", local.Add(-62 * time.Second).Format(http.TimeFormat), StatusFail, "1m1.5s ahead of QBO"},
		{"no Date header", "-", StatusSkip, "without a usable Date header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.date == "-" {
					w.Header()["Date"] = nil
				} else {
					w.Header().Set("Date", tt.date)
				}
				w.WriteHeader(http.StatusNotFound)
			}))
			defer hs.Close()
			c := byName(t, ClockSkew(context.Background(), ClockInput{Now: frozen, QBOBaseURL: hs.URL}), CheckClockQBO)
			if c.Status != tt.status || !strings.Contains(c.Detail, tt.detail) {
				t.Errorf("got %+v, want %s with %q", c, tt.status, tt.detail)
			}
		})
	}

	// The sandbox, on the real clock, agrees.
	srv, err := sandbox.New(sandbox.Options{Seed: 1, Customers: 1, Items: 1, Invoices: 1})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	if c := byName(t, ClockSkew(context.Background(), ClockInput{QBOBaseURL: hs.URL}), CheckClockQBO); c.Status != StatusOK {
		t.Errorf("sandbox: %+v", c)
	}
	hs.Close()
	if c := byName(t, ClockSkew(context.Background(), ClockInput{QBOBaseURL: hs.URL}), CheckClockQBO); c.Status != StatusSkip || !strings.Contains(c.Detail, "not reachable") {
		t.Errorf("unreachable: %+v", c)
	}
}
