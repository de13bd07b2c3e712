package qbo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/engine/state"
)

// Canary credentials: tests assert they never appear in logs or errors.
const (
	canaryClientID     = "canary-client-id-7f3a9c"
	canaryClientSecret = "canary-client-secret-51be0d"
	canaryRefresh      = "canary-refresh-token-e2c4aa"
)

var (
	dataStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	dataEnd   = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	fullRange = plan.Window{Start: dataStart, End: dataEnd}
)

type harness struct {
	t     testing.TB
	srv   *sandbox.Server
	http  *httptest.Server
	creds state.CredentialStore
	logs  *syncBuffer
	red   *secret.Redactor
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t testing.TB, o sandbox.Options) *harness {
	t.Helper()
	o.ClientID, o.ClientSecret, o.RefreshToken = canaryClientID, canaryClientSecret, canaryRefresh
	if o.DataStart.IsZero() {
		o.DataStart, o.DataEnd = dataStart, dataEnd
	}
	if o.RequestsPerMinute == 0 {
		o.RequestsPerMinute = -1
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	srv, err := sandbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, http: httptest.NewServer(srv.Handler()), creds: NewMemoryCredentials(), logs: &syncBuffer{}, red: &secret.Redactor{}}
	t.Cleanup(h.http.Close)
	return h
}

type loaderOpt func(*component.BuildContext, component.Settings)

func withPageSize(n int) loaderOpt {
	return func(_ *component.BuildContext, s component.Settings) { s[FieldPageSize] = int64(n) }
}

func withEntity(e string) loaderOpt {
	return func(_ *component.BuildContext, s component.Settings) { s[FieldEntity] = e }
}

func withPolicy(p retry.Policy) loaderOpt {
	return func(bc *component.BuildContext, _ component.Settings) { bc.Retry = p }
}

func withLimits(rpm, conc int) loaderOpt {
	return func(bc *component.BuildContext, _ component.Settings) {
		bc.RateLimit = component.RateLimit{RequestsPerMinute: rpm, MaxConcurrent: conc}
	}
}

// fastPolicy retries quickly, so tests do not wait for real backoffs.
func fastPolicy() retry.Policy {
	p := retry.DefaultPolicy()
	p.MaxAttempts = 8
	p.InitialBackoff, p.MaxBackoff, p.ThrottleWait = time.Millisecond, 5*time.Millisecond, 2*time.Millisecond
	return p
}

func (h *harness) loader(opts ...loaderOpt) *Loader {
	h.t.Helper()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bc := component.BuildContext{
		Pipeline: "test", Logger: log, Retry: fastPolicy(), Credentials: h.creds, Redactor: h.red,
		RateLimit: component.RateLimit{RequestsPerMinute: 1_000_000, MaxConcurrent: 8},
		Timeouts:  component.Timeouts{Request: 10 * time.Second}, CursorField: "MetaData.LastUpdatedTime",
	}
	s := component.Settings{
		FieldEntity: "Customer", FieldPageSize: int64(1000), FieldIncludeInactive: true, FieldMinorVersion: int64(75),
		FieldMaxPasses: int64(3), FieldMaxResponseBytes: int64(64 << 20), FieldRealmID: h.srv.RealmID(),
		FieldClientID: secret.New("QBO_CLIENT_ID", canaryClientID), FieldClientSecret: secret.New("QBO_CLIENT_SECRET", canaryClientSecret),
		FieldRefreshToken: secret.New("QBO_REFRESH_TOKEN", canaryRefresh), FieldEnvironment: "sandbox",
		FieldBaseURL: h.http.URL, FieldTokenURL: h.http.URL + "/oauth2/v1/tokens/bearer",
	}
	for _, o := range opts {
		o(&bc, s)
	}
	l, err := NewLoader(context.Background(), bc, s, LoaderOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { l.Close() })
	return l
}

// collect loads w and returns every record emitted, in order.
func collect(t testing.TB, l *Loader, w plan.Window) ([]component.Record, component.LoadStats, error) {
	t.Helper()
	var got []component.Record
	st, err := l.Load(context.Background(), w, func(_ context.Context, p *component.Page) error {
		if len(p.Records) == 0 {
			t.Errorf("empty page %d emitted", p.Number)
		}
		got = append(got, p.Records...)
		return nil
	})
	return got, st, err
}

func ids(rs []component.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (h *harness) wantIDs(entity string) []string {
	var out []string
	for _, r := range h.srv.Records(entity) {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

func TestLoaderPagingIsExact(t *testing.T) {
	for _, n := range []int{0, 1, 999, 1000, 1001, 2000, 2001} {
		h := newHarness(t, sandbox.Options{Customers: n, Items: 1, InactiveFraction: -1})
		for _, size := range []int{1, 7, 1000} {
			t.Run(fmt.Sprintf("records=%d/page=%d", n, size), func(t *testing.T) {
				l := h.loader(withPageSize(size))
				got, st, err := collect(t, l, fullRange)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != n || st.Fetched != int64(n) || st.Distinct != int64(n) || st.SourceCount != int64(n) {
					t.Fatalf("got %d records, stats %+v; want %d", len(got), st, n)
				}
				if !slices.Equal(ids(got), h.wantIDs("Customer")) {
					t.Fatal("ids differ from the sandbox's")
				}
				// Full pages, then one short or empty page at most.
				if want := n/size + 1; st.Pages > want || st.Pages < n/size {
					t.Fatalf("pages = %d, want %d or %d", st.Pages, n/size, want)
				}
			})
		}
	}
}

func TestLoaderLoadsInactiveRecords(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 300, Items: 120, InactiveFraction: 0.25})
	for _, entity := range []string{"Customer", "Item"} {
		inactive := 0
		for _, r := range h.srv.Records(entity) {
			if !r.Active {
				inactive++
			}
		}
		if inactive == 0 {
			t.Fatalf("sandbox generated no inactive %s", entity)
		}
		got, _, err := collect(t, h.loader(withEntity(entity), withPageSize(50)), fullRange)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), h.wantIDs(entity)) {
			t.Fatalf("%s: loaded %d ids, sandbox has %d (%d inactive)", entity, len(ids(got)), len(h.wantIDs(entity)), inactive)
		}
	}
}

func TestLoaderTiesOnOneTimestampLoadOnce(t *testing.T) {
	at := time.Date(2022, 6, 1, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, sandbox.Options{Customers: 50, Items: 1, Ties: []sandbox.Tie{{Entity: "Customer", Count: 1200, At: at}}})
	for _, size := range []int{7, 1000} {
		got, st, err := collect(t, h.loader(withPageSize(size)), fullRange)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1250 || len(ids(got)) != 1250 || st.Distinct != 1250 {
			t.Fatalf("page %d: %d records, %d distinct, stats %+v; want 1250 once each", size, len(got), len(ids(got)), st)
		}
	}
}

func TestLoaderWindowIsHalfOpen(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 400, Items: 1})
	mid := time.Date(2022, 3, 1, 0, 0, 0, 0, time.UTC)
	a, _, err := collect(t, h.loader(withPageSize(9)), plan.Window{Start: dataStart, End: mid})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := collect(t, h.loader(withPageSize(9)), plan.Window{Start: mid, End: dataEnd})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range a {
		if !r.UpdatedAt.Before(mid) {
			t.Fatalf("record %s at %s is in the first window", r.ID, r.UpdatedAt)
		}
	}
	all := append(ids(a), ids(b)...)
	slices.Sort(all)
	if !slices.Equal(all, h.wantIDs("Customer")) || len(a)+len(b) != 400 {
		t.Fatalf("two windows loaded %d+%d records, want 400 exactly once", len(a), len(b))
	}
}

func TestLoaderRecoversFrom429And5xx(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 900, Items: 1, Faults: sandbox.Faults{Every429: 3, Every5xx: 5, XML429: true}})
	got, st, err := collect(t, h.loader(withPageSize(50)), fullRange)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids(got)) != 900 {
		t.Fatalf("loaded %d distinct", len(ids(got)))
	}
	s := h.srv.Stats()
	if s.Status429 == 0 || s.Status5xx == 0 {
		t.Fatalf("faults were not injected: %+v", s)
	}
	if st.Throttled != int(s.Status429) || st.Retries < int(s.Status429+s.Status5xx) {
		t.Fatalf("stats %+v do not account for %d 429s and %d 5xx", st, s.Status429, s.Status5xx)
	}
}

func TestLoaderNeverExceedsItsConcurrency(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 3000, Items: 1, MaxInFlight: 10, Faults: sandbox.Faults{Latency: 3 * time.Millisecond}})
	l := h.loader(withPageSize(20), withLimits(1_000_000, 3))
	ws, err := plan.Windows(plan.Spec{Start: dataStart, End: dataEnd, Step: plan.Step{N: 3, Unit: plan.Month}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := collect(t, l, w)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += len(got)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 3000 {
		t.Fatalf("loaded %d", total)
	}
	if m := h.srv.Stats().MaxInFlightSeen; m > 3 || m < 2 {
		t.Fatalf("sandbox saw %d requests in flight, cap is 3", m)
	}
}

func TestLoaderExhaustedPolicyFailsClearly(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 10, Items: 1, Faults: sandbox.Faults{Every429: 1}})
	p := fastPolicy()
	p.MaxAttempts = 4
	_, _, err := collect(t, h.loader(withPolicy(p)), fullRange)
	var ex *retry.ExhaustedError
	if !errors.As(err, &ex) || ex.Attempts != 4 {
		t.Fatalf("error = %v, want an exhausted policy after 4 attempts", err)
	}
	for _, want := range []string{"gave up after 4 attempts", "HTTP 429", "Customer", "window"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if retry.ClassOf(err) != retry.Permanent {
		t.Fatalf("an exhausted policy must not be retried again, class %s", retry.ClassOf(err))
	}
}

func TestLoaderRefreshesOnceWhenTheTokenExpires(t *testing.T) {
	// 500 records at 25 a page: 21 pages and a count. Each access token
	// serves 15 data requests, so exactly one expires during the run.
	h := newHarness(t, sandbox.Options{Customers: 500, Items: 1, Faults: sandbox.Faults{TokenExpiresAfterRequests: 15}})
	l := h.loader(withPageSize(25))
	got, _, err := collect(t, l, fullRange)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids(got)) != 500 {
		t.Fatalf("loaded %d", len(ids(got)))
	}
	s := h.srv.Stats()
	if s.Refreshes != 2 || s.Status401 != 1 || l.Tokens().Refreshes() != 2 {
		t.Fatalf("refreshes %d (loader %d), 401s %d; want 2 (initial + one after expiry) and one 401", s.Refreshes, l.Tokens().Refreshes(), s.Status401)
	}
}

func TestRefreshTokenRotationIsPersistedAndPickedUp(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 40, Items: 1, AccessTokenTTL: time.Hour})
	for i := range 3 {
		// Each "process" is a new loader on the same credential store; the
		// stored access token is still valid, so force a refresh by
		// invalidating it.
		l := h.loader(withPageSize(10))
		if _, _, err := collect(t, l, fullRange); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
		if _, err := l.Tokens().Invalidate(context.Background(), mustToken(t, l)); err != nil {
			t.Fatalf("process %d: refresh: %v", i, err)
		}
		raw, ok, _ := h.creds.Get(context.Background(), "qbo/"+h.srv.RealmID())
		if !ok || !strings.Contains(string(raw), h.srv.RefreshToken()) {
			t.Fatalf("process %d: the stored refresh token is not the sandbox's newest", i)
		}
	}
	s := h.srv.Stats()
	if s.RefreshFailures != 0 {
		t.Fatalf("%d refreshes failed: an old refresh token was sent again", s.RefreshFailures)
	}
	if s.Refreshes != 4 {
		t.Fatalf("refreshes = %d, want 4 (first use + 3 forced)", s.Refreshes)
	}
}

func mustToken(t *testing.T, l *Loader) string {
	t.Helper()
	tok, err := l.Tokens().Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInvalidGrantFailsFastNamingTheRealm(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 5, Items: 1})
	// Consume the configured refresh token elsewhere, as a sibling process
	// whose response was lost would.
	other := h.loader()
	other.client.tokens.store = NewMemoryCredentials()
	if _, err := other.Tokens().Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := h.loader()
	start := time.Now()
	_, _, err := collect(t, l, fullRange)
	if retry.ClassOf(err) != retry.Reauthorize {
		t.Fatalf("error class = %s (%v), want reauthorize", retry.ClassOf(err), err)
	}
	if !strings.Contains(err.Error(), h.srv.RealmID()) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("error %q does not name the realm and invalid_grant", err)
	}
	if time.Since(start) > 2*time.Second || h.srv.Stats().RefreshFailures != 1 {
		t.Fatalf("invalid_grant was retried: %d failures", h.srv.Stats().RefreshFailures)
	}
	h.assertNoCanary(err.Error())
}

func TestMalformedPageIsRejectedWithoutPartialOutput(t *testing.T) {
	for _, f := range []sandbox.Faults{{EveryMalformed: 2}, {EveryTruncated: 2}} {
		h := newHarness(t, sandbox.Options{Customers: 100, Items: 1, Faults: f})
		p := fastPolicy()
		p.MaxAttempts = 1
		got, _, err := collect(t, h.loader(withPageSize(30), withPolicy(p)), fullRange)
		if retry.ClassOf(err) != retry.Malformed && !strings.Contains(err.Error(), "gave up") {
			t.Fatalf("faults %+v: error = %v, want a malformed page", f, err)
		}
		// Page 1 was fine; page 2 was broken: exactly page 1 was emitted.
		if len(got) != 30 {
			t.Fatalf("faults %+v: %d records emitted before the failure, want 30", f, len(got))
		}
		// With retries the window completes.
		h.srv.SetFaults(f)
		got, _, err = collect(t, h.loader(withPageSize(30)), fullRange)
		if err != nil || len(ids(got)) != 100 {
			t.Fatalf("faults %+v with retries: %d ids, %v", f, len(ids(got)), err)
		}
	}
}

func TestRecordMovedWhilePagingIsNotLost(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 600, Items: 1, Faults: sandbox.Faults{MutateDuringPaging: 1}})
	before := h.wantIDs("Customer")
	got, st, err := collect(t, h.loader(withPageSize(100)), fullRange)
	if err != nil {
		t.Fatal(err)
	}
	if h.srv.Stats().Mutations != 1 {
		t.Fatalf("mutations = %d, want 1", h.srv.Stats().Mutations)
	}
	if !slices.Equal(ids(got), before) {
		t.Fatalf("delivered %d distinct ids, the window held %d", len(ids(got)), len(before))
	}
	if st.Passes != 2 || st.MovedOut != 1 || st.Distinct != 599 || st.SourceCount != 599 {
		t.Fatalf("stats %+v, want 2 passes, 1 moved out, 599 counted", st)
	}
}

func TestLoaderLogsAndErrorsHoldNoSecret(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 200, Items: 1, Faults: sandbox.Faults{Every429: 4, TokenExpiresAfterRequests: 5, EveryMalformed: 7}})
	_, _, err := collect(t, h.loader(withPageSize(10)), fullRange)
	if err != nil {
		h.assertNoCanary(err.Error())
	}
	h.assertNoCanary(h.logs.String())
	if !strings.Contains(h.logs.String(), "retrying") {
		t.Fatal("expected retry log lines (the test would prove nothing without them)")
	}
}

// assertNoCanary fails if s holds a configured secret or a token the
// sandbox issued.
func (h *harness) assertNoCanary(s string) {
	h.t.Helper()
	for _, c := range []string{canaryClientID, canaryClientSecret, canaryRefresh, h.srv.RefreshToken(), "Bearer "} {
		if strings.Contains(s, c) {
			h.t.Fatalf("output holds a secret (%.12s…)", c)
		}
	}
}

func BenchmarkLoaderPage1000(b *testing.B) {
	h := newHarness(b, sandbox.Options{Invoices: 20000, Customers: 100, Items: 50})
	l := h.loader(withEntity("Invoice"), withPageSize(1000))
	b.ResetTimer()
	var n int
	for range b.N {
		got, _, err := collect(b, l, fullRange)
		if err != nil {
			b.Fatal(err)
		}
		n += len(got)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func TestConcurrentTokenRequestsRefreshOnce(t *testing.T) {
	h := newHarness(t, sandbox.Options{Customers: 5, Items: 1})
	l := h.loader()
	var wg sync.WaitGroup
	tokens := make([]string, 16)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := l.Tokens().Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok
		}()
	}
	wg.Wait()
	if n := h.srv.Stats().Refreshes; n != 1 {
		t.Fatalf("%d refreshes for 16 concurrent requests, want 1", n)
	}
	// A burst of 401s for the same token also refreshes once.
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Tokens().Invalidate(context.Background(), tokens[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := h.srv.Stats().Refreshes; n != 2 {
		t.Fatalf("%d refreshes after a burst of 401s, want 2", n)
	}
}
