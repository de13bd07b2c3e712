package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statuses runs n COUNT queries and returns their status codes.
func (e *env) statuses(tok string, n int) []int {
	e.t.Helper()
	out := make([]int, n)
	for i := range out {
		out[i] = e.query(tok, "SELECT COUNT(*) FROM Item").status
	}
	return out
}

func TestEvery429(t *testing.T) {
	o := smallOptions()
	o.Faults.Every429 = 3
	e := newEnv(t, o)
	tok := e.token()
	got := e.statuses(tok, 7)
	if want := []int{200, 200, 429, 200, 200, 429, 200}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	e.s.SetFaults(Faults{Every429: 2})
	assertThrottle(t, func() response {
		e.query(tok, "SELECT COUNT(*) FROM Item")
		return e.query(tok, "SELECT COUNT(*) FROM Item")
	}())
	if st := e.s.Stats(); st.Status429 != 3 || st.Throttled429InFlight+st.Throttled429PerMinute != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestXML429(t *testing.T) {
	o := smallOptions()
	o.Faults = Faults{Every429: 1, XML429: true}
	e := newEnv(t, o)
	res := e.query(e.token(), "SELECT * FROM Customer")
	if res.status != 429 || res.header.Get("Content-Type") != "application/xml;charset=UTF-8" || res.header.Get("Retry-After") != "" {
		t.Fatalf("status %d headers %v", res.status, res.header)
	}
	want := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2026-07-15T11:30:45.123-07:00"><Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message><Detail>The request limit was reached.  Try again later</Detail></Error></Fault></IntuitResponse>`
	if string(res.body) != want {
		t.Errorf("body\n%s\nwant\n%s", res.body, want)
	}
}

func TestEvery5xx(t *testing.T) {
	o := smallOptions()
	o.Faults.Every5xx = 2
	e := newEnv(t, o)
	tok := e.token()
	var got []int
	for range 8 {
		res := e.query(tok, "SELECT COUNT(*) FROM Item")
		got = append(got, res.status)
		if res.status >= 500 {
			f := decodeFault(t, res.body)
			if f.Fault.Type != "SystemFault" || f.Fault.Error[0].Code != "10000" ||
				f.Fault.Error[0].Message != "An application error has occurred while processing your request" ||
				!strings.HasPrefix(f.Fault.Error[0].Detail, "System Failure Error: ") {
				t.Errorf("5xx body %s", res.body)
			}
		}
	}
	if want := []int{200, 500, 200, 503, 200, 500, 200, 503}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if st := e.s.Stats(); st.Status5xx != 4 {
		t.Errorf("Status5xx %d", st.Status5xx)
	}
}

func TestLatency(t *testing.T) {
	o := smallOptions()
	o.Faults.Latency = 80 * time.Millisecond
	e := newEnv(t, o)
	tok := e.token()
	start := time.Now()
	if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
		t.Fatalf("status %d", res.status)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("request took %s, want at least the 80ms latency", d)
	}
	e.s.SetFaults(Faults{})
	start = time.Now()
	e.query(tok, "SELECT COUNT(*) FROM Item")
	if d := time.Since(start); d >= 80*time.Millisecond {
		t.Errorf("latency still applied after SetFaults: %s", d)
	}
}

func TestEveryTruncated(t *testing.T) {
	o := smallOptions()
	o.Faults.EveryTruncated = 2
	e := newEnv(t, o)
	tok := e.token()
	get := func() (int, int64, []byte, error) {
		req := mustRequest(t, http.MethodGet, e.queryURL(e.s.RealmID(), "SELECT * FROM Invoice MAXRESULTS 50"))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, res.ContentLength, body, err
	}
	status, length, full, err := get()
	if status != 200 || err != nil || !json.Valid(full) || int64(len(full)) != length {
		t.Fatalf("first response: %d len %d/%d err %v", status, len(full), length, err)
	}
	status, length, half, err := get()
	if status != 200 || length != int64(len(full)) {
		t.Fatalf("truncated response: status %d Content-Length %d, want 200 and %d", status, length, len(full))
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(half) != len(full)/2 || string(half) != string(full[:len(full)/2]) {
		t.Errorf("truncated body: %d of %d bytes, err %v", len(half), len(full), err)
	}
	if _, _, again, err := get(); err != nil || string(again) != string(full) {
		t.Errorf("third response: err %v", err)
	}
	if st := e.s.Stats(); st.Truncated != 1 {
		t.Errorf("Truncated %d", st.Truncated)
	}
}

func TestEveryMalformed(t *testing.T) {
	o := smallOptions()
	o.Faults.EveryMalformed = 2
	e := newEnv(t, o)
	tok := e.token()
	e.query(tok, "SELECT * FROM Item")
	res := e.query(tok, "SELECT * FROM Item")
	if res.status != 200 || json.Valid(res.body) || !strings.HasPrefix(string(res.body), "<!DOCTYPE html>") {
		t.Errorf("malformed response: %d %s", res.status, res.body)
	}
	if res.header.Get("Content-Type") != "text/html;charset=UTF-8" {
		t.Errorf("Content-Type %q", res.header.Get("Content-Type"))
	}
	if res := e.query(tok, "SELECT * FROM Item"); !json.Valid(res.body) {
		t.Error("third response should be JSON")
	}
	if st := e.s.Stats(); st.Malformed != 1 {
		t.Errorf("Malformed %d", st.Malformed)
	}
}

func TestTokenExpiresAfterRequests(t *testing.T) {
	o := smallOptions()
	o.Faults.TokenExpiresAfterRequests = 2
	e := newEnv(t, o)
	first := e.token()
	if got := e.statuses(first, 3); !slices.Equal(got, []int{200, 200, 401}) {
		t.Fatalf("first token: %v", got)
	}
	res := e.query(first, "SELECT COUNT(*) FROM Item")
	if res.header.Get("WWW-Authenticate") == "" || !strings.Contains(string(res.body), `"detail":"Token expired: `) {
		t.Errorf("expired-by-use body %s", res.body)
	}
	second := e.token()
	if got := e.statuses(second, 3); !slices.Equal(got, []int{200, 200, 401}) {
		t.Errorf("second token: %v", got)
	}
	st := e.s.Stats()
	if len(st.PerToken) != 2 || st.PerToken[0].Requests != 2 || st.PerToken[0].Rejected != 2 || st.PerToken[1].Requests != 2 {
		t.Errorf("token stats %+v", st.PerToken)
	}
}

func TestMutateDuringPaging(t *testing.T) {
	o := smallOptions()
	o.Faults.MutateDuringPaging = 1
	e := newEnv(t, o)
	tok := e.token()
	const q = "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2019-01-01T00:00:00Z' AND MetaData.LastUpdatedTime < '2026-01-01T00:00:00Z' ORDERBY MetaData.LastUpdatedTime STARTPOSITION %d MAXRESULTS %d"
	// A full page with nothing behind it is not a multi-page query.
	e.mustOK(tok, "SELECT * FROM Invoice WHERE Id IN ('1','2') ORDERBY MetaData.LastUpdatedTime MAXRESULTS 2")
	if n := e.s.Stats().Mutations; n != 0 {
		t.Fatalf("single-page query mutated %d records", n)
	}
	_, before := e.mustOK(tok, fmt.Sprintf(q, 1, 100)) // one page of 100: the original order
	if e.s.Stats().Mutations != 1 {
		t.Fatalf("page 1 of a multi-page query should mutate; stats %+v", e.s.Stats())
	}
	victim := before[0]
	var info RecordInfo
	for _, r := range e.s.Records(EntityInvoice) {
		if r.ID == victim.ID {
			info = r
		}
	}
	wantSync, _ := strconv.Atoi(victim.SyncToken)
	if info.SyncToken != strconv.Itoa(wantSync+1) || !info.LastUpdated.Equal(fixedNow().Truncate(time.Second)) {
		t.Errorf("victim %s after mutation: %+v", victim.ID, info)
	}
	// The victim left the window, so a client paging by offset skips the
	// row that slid into position 10.
	_, p2 := e.mustOK(tok, fmt.Sprintf(q, 11, 10))
	if p2[0].ID != before[11].ID {
		t.Errorf("page 2 starts with %s, want %s (row %s was skipped)", p2[0].ID, before[11].ID, before[10].ID)
	}
	// Budget spent: page 1 of another multi-page query changes nothing.
	_, again := e.mustOK(tok, fmt.Sprintf(q, 1, 10))
	if st := e.s.Stats(); st.Mutations != 1 {
		t.Errorf("mutations %d after the budget of 1", st.Mutations)
	}
	if again[0].ID != before[1].ID {
		t.Errorf("new first row %s, want %s", again[0].ID, before[1].ID)
	}
	// The victim is now the newest invoice.
	_, last := e.mustOK(tok, "SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime DESC MAXRESULTS 1")
	if last[0].ID != victim.ID || last[0].MetaData.LastUpdatedTime != "2026-07-15T11:30:45-07:00" {
		t.Errorf("newest invoice %s at %s", last[0].ID, last[0].MetaData.LastUpdatedTime)
	}
}

func TestUpdate(t *testing.T) {
	e := newEnv(t, smallOptions())
	before, _ := e.s.Payload(EntityCustomer, "5")
	if err := e.s.Update("customer", "5"); err != nil {
		t.Fatal(err)
	}
	after, _ := e.s.Payload(EntityCustomer, "5")
	var b, a struct {
		SyncToken   string
		DisplayName string
		MetaData    struct{ CreateTime, LastUpdatedTime string }
	}
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &a)
	bs, _ := strconv.Atoi(b.SyncToken)
	if a.SyncToken != strconv.Itoa(bs+1) || a.DisplayName != b.DisplayName || a.MetaData.CreateTime != b.MetaData.CreateTime ||
		a.MetaData.LastUpdatedTime != "2026-07-15T11:30:45-07:00" {
		t.Errorf("before %+v after %+v", b, a)
	}
	if err := e.s.Update("Invoice", "9999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing id: %v", err)
	}
	if err := e.s.Update("Vendor", "1"); !errors.Is(err, ErrUnknownEntity) {
		t.Errorf("unknown entity: %v", err)
	}
	_, rows := e.mustOK(e.token(), "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '2026-07-15T18:30:45Z' AND Active IN (true,false)")
	if len(rows) != 1 || rows[0].ID != "5" {
		t.Errorf("updated customer not found by its new time: %v", ids(rows))
	}
}
