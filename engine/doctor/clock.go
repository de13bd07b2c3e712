package doctor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

// Clock skew thresholds: windows are cut, leases expire and access tokens
// are refreshed by the local clock, so it must agree with the database's
// and QBO's.
const (
	SkewWarn = 2 * time.Second
	SkewFail = 60 * time.Second
)

// Names of the clock checks.
const (
	CheckClockPostgres = "clock vs postgres"
	CheckClockQBO      = "clock vs qbo"
)

// clockTimeout bounds each time reading.
const clockTimeout = 10 * time.Second

// Querier runs one query; *pgxpool.Pool is one.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ClockInput are the clocks ClockSkew compares.
type ClockInput struct {
	// Now is the local clock (default time.Now).
	Now func() time.Time
	// DB is the PostgreSQL server; nil skips that comparison.
	DB Querier
	// QBOBaseURL is fetched for its Date header; "" skips that
	// comparison.
	QBOBaseURL string
	// HTTPClient fetches QBOBaseURL (default: http.DefaultClient).
	HTTPClient *http.Client
}

// ClockSkew compares the local clock with the PostgreSQL server's and, when
// QBO answers, with the Date header of QBO's base URL: warn above SkewWarn,
// fail above SkewFail. Each reading is taken against the middle of the
// local instants before and after it; the Date header's one-second
// resolution and half the round trip are allowed for.
func ClockSkew(ctx context.Context, in ClockInput) []Check {
	if in.Now == nil {
		in.Now = time.Now
	}
	return []Check{clockPostgres(ctx, in), clockQBO(ctx, in)}
}

func clockPostgres(ctx context.Context, in ClockInput) Check {
	if in.DB == nil {
		return skip(CheckClockPostgres, "no database connection (see the postgres checks)", "")
	}
	ctx, cancel := context.WithTimeout(ctx, clockTimeout)
	defer cancel()
	before := in.Now()
	var server time.Time
	// clock_timestamp(), not now(): now() is the start of the transaction.
	if err := in.DB.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&server); err != nil {
		return skip(CheckClockPostgres, fmt.Sprintf("cannot read the server's time: %v", err), "")
	}
	after := in.Now()
	return skewCheck(CheckClockPostgres, "the PostgreSQL server", server, before, after, 0)
}

func clockQBO(ctx context.Context, in ClockInput) Check {
	if in.QBOBaseURL == "" {
		return skip(CheckClockQBO, "no QBO base URL: no loaded pipeline uses qbo.query", "")
	}
	client := in.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, clockTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.QBOBaseURL, nil)
	if err != nil {
		return skip(CheckClockQBO, fmt.Sprintf("QBO base URL %s: %v", in.QBOBaseURL, err), "check QBO_BASE_URL")
	}
	before := in.Now()
	resp, err := client.Do(req)
	after := in.Now()
	if err != nil {
		return skip(CheckClockQBO, fmt.Sprintf("%s is not reachable: %v", in.QBOBaseURL, err), "check QBO_BASE_URL and the network if runs need it")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return skip(CheckClockQBO, fmt.Sprintf("%s answered without a usable Date header", in.QBOBaseURL), "")
	}
	// Date is truncated to the second: the server's instant lies in
	// [date, date+1s).
	return skewCheck(CheckClockQBO, "QBO ("+in.QBOBaseURL+")", date.Add(500*time.Millisecond), before, after, 500*time.Millisecond)
}

// skewCheck judges the offset of a remote instant read between the local
// instants before and after; slack is the remote reading's own
// uncertainty.
func skewCheck(name, remote string, remoteAt, before, after time.Time, slack time.Duration) Check {
	rtt := after.Sub(before)
	skew := remoteAt.Sub(before.Add(rtt / 2)) // positive: local is behind
	uncertainty := rtt/2 + slack
	magnitude := max(skew.Abs()-uncertainty, 0)
	var rel string
	switch {
	case skew > 0:
		rel = fmt.Sprintf("the local clock is %s behind %s", roundSkew(skew.Abs()), remote)
	default:
		rel = fmt.Sprintf("the local clock is %s ahead of %s", roundSkew(skew.Abs()), remote)
	}
	rel += fmt.Sprintf(" (±%s)", roundSkew(uncertainty))
	const fix = "synchronise this machine's clock with NTP (timedatectl set-ntp true, or chrony): windows, leases and token expiry are computed from it"
	switch {
	case magnitude > SkewFail:
		return fail(name, rel+fmt.Sprintf("; more than %s", SkewFail), fix)
	case magnitude > SkewWarn:
		return warn(name, rel+fmt.Sprintf("; more than %s", SkewWarn), fix)
	}
	return ok(name, rel)
}

// roundSkew rounds a duration for display.
func roundSkew(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
