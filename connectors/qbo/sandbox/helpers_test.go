package sandbox

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixedNow is the default test instant: a summer day, so Pacific is -07:00.
func fixedNow() time.Time { return time.Date(2026, 7, 15, 18, 30, 45, 123_000_000, time.UTC) }

// env is a sandbox served over real HTTP.
type env struct {
	t      *testing.T
	s      *Server
	hs     *httptest.Server
	clock  *testClock
	client *http.Client
}

// newEnv starts a server; setup may adjust the server before it serves.
func newEnv(t *testing.T, o Options, setup ...func(*Server)) *env {
	t.Helper()
	clock := newClock(fixedNow())
	if o.Now == nil {
		o.Now = clock.Now
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, f := range setup {
		f(s)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, s: s, hs: hs, clock: clock, client: hs.Client()}
}

// smallOptions is a data set small enough for -race.
func smallOptions() Options {
	return Options{Seed: 42, Customers: 30, Items: 12, Invoices: 250}
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body of %s %s: %v", req.Method, req.URL.Path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// refresh posts a refresh grant with form credentials.
func (e *env) refresh(refreshToken string) response {
	e.t.Helper()
	form := url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"client_id": {e.s.ClientID()}, "client_secret": {e.s.ClientSecret()},
	}
	req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/oauth2/v1/tokens/bearer", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return e.do(req)
}

// token obtains a fresh access token.
func (e *env) token() string {
	e.t.Helper()
	res := e.refresh(e.s.RefreshToken())
	if res.status != http.StatusOK {
		e.t.Fatalf("refresh: status %d body %s", res.status, res.body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(res.body, &tr); err != nil {
		e.t.Fatalf("decode token response: %v", err)
	}
	return tr.AccessToken
}

// queryURL is the GET URL of stmt for realm.
func (e *env) queryURL(realm, stmt string) string {
	return e.hs.URL + "/v3/company/" + realm + "/query?query=" + url.QueryEscape(stmt) + "&minorversion=75"
}

// query runs stmt by GET with token.
func (e *env) query(token, stmt string) response {
	e.t.Helper()
	return e.queryRealm(e.s.RealmID(), token, stmt)
}

func (e *env) queryRealm(realm, token, stmt string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.queryURL(realm, stmt), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	return e.do(req)
}

// queryResponse is the decoded success envelope.
type queryResponse struct {
	QueryResponse map[string]json.RawMessage `json:"QueryResponse"`
	Time          string                     `json:"time"`
}

// entityRow holds the fields tests look at.
type entityRow struct {
	ID          string `json:"Id"`
	SyncToken   string `json:"SyncToken"`
	Active      *bool  `json:"Active"`
	DisplayName string `json:"DisplayName"`
	Name        string `json:"Name"`
	TxnDate     string `json:"TxnDate"`
	MetaData    struct {
		CreateTime      string `json:"CreateTime"`
		LastUpdatedTime string `json:"LastUpdatedTime"`
	} `json:"MetaData"`
}

// mustOK runs stmt and decodes a 200 envelope.
func (e *env) mustOK(token, stmt string) (queryResponse, []entityRow) {
	e.t.Helper()
	res := e.query(token, stmt)
	if res.status != http.StatusOK {
		e.t.Fatalf("%s: status %d body %s", stmt, res.status, res.body)
	}
	return decodeEnvelope(e.t, res.body)
}

func decodeEnvelope(t *testing.T, body []byte) (queryResponse, []entityRow) {
	t.Helper()
	var qr queryResponse
	if err := json.Unmarshal(body, &qr); err != nil {
		t.Fatalf("decode envelope: %v\n%s", err, body)
	}
	var rows []entityRow
	for _, k := range []string{EntityCustomer, EntityInvoice, EntityItem} {
		if raw, ok := qr.QueryResponse[k]; ok {
			if err := json.Unmarshal(raw, &rows); err != nil {
				t.Fatalf("decode %s rows: %v", k, err)
			}
		}
	}
	return qr, rows
}

// intField reads an integer member of the QueryResponse object.
func intField(t *testing.T, qr queryResponse, name string) int {
	t.Helper()
	raw, ok := qr.QueryResponse[name]
	if !ok {
		t.Fatalf("QueryResponse has no %q: %v", name, qr.QueryResponse)
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatalf("QueryResponse.%s: %v", name, err)
	}
	return n
}

// ids lists the Ids of rows.
func ids(rows []entityRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// fault is the decoded documented fault envelope.
type fault struct {
	Fault struct {
		Error []struct {
			Message, Detail, Code string
		}
		Type string
	}
	Time any
}

func decodeFault(t *testing.T, body []byte) fault {
	t.Helper()
	var f fault
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatalf("decode fault: %v\n%s", err, body)
	}
	if len(f.Fault.Error) != 1 {
		t.Fatalf("want one fault error, got %d: %s", len(f.Fault.Error), body)
	}
	return f
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden\n got: %s\nwant: %s", name, got, want)
	}
}
