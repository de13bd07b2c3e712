package sandbox

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// assertThrottle checks a JSON 429 ThrottleExceeded response.
func assertThrottle(t *testing.T, res response) {
	t.Helper()
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", res.status, res.body)
	}
	if res.header.Get("Retry-After") != "" {
		t.Error("429 must carry no Retry-After header")
	}
	f := decodeFault(t, res.body)
	e := f.Fault.Error[0]
	if e.Code != "3001" || e.Message != "message=ThrottleExceeded; errorCode=003001; statusCode=429" ||
		e.Detail != "The request limit was reached.  Try again later" || f.Fault.Type != "SERVICE" {
		t.Errorf("throttle body %s", res.body)
	}
}

func TestInFlightLimit(t *testing.T) {
	o := smallOptions()
	o.MaxInFlight = 3
	entered := make(chan struct{}, 3)
	release := make(chan struct{})
	var mu sync.Mutex
	held := 0
	e := newEnv(t, o, func(s *Server) {
		s.admitted = func() {
			mu.Lock()
			hold := held < 3 // only the first three requests are held
			held++
			mu.Unlock()
			if hold {
				entered <- struct{}{}
				<-release
			}
		}
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server closes, even after t.Fatal
	tok := e.token()
	var wg sync.WaitGroup
	statuses := make(chan int, 3)
	for range 3 {
		wg.Go(func() { statuses <- e.query(tok, "SELECT COUNT(*) FROM Invoice").status })
	}
	for range 3 {
		<-entered
	}
	assertThrottle(t, e.query(tok, "SELECT COUNT(*) FROM Invoice"))
	st := e.s.Stats()
	if st.InFlight != 3 || st.MaxInFlightSeen != 4 || st.Throttled429InFlight != 1 {
		t.Errorf("while held: in flight %d, max seen %d, throttled %d", st.InFlight, st.MaxInFlightSeen, st.Throttled429InFlight)
	}
	unblock()
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Errorf("held request finished with %d", s)
		}
	}
	if res := e.query(tok, "SELECT COUNT(*) FROM Invoice"); res.status != 200 {
		t.Errorf("after release: %d", res.status)
	}
	if st := e.s.Stats(); st.InFlight != 0 || st.MaxInFlightSeen != 4 {
		t.Errorf("after release: in flight %d, max seen %d", st.InFlight, st.MaxInFlightSeen)
	}
}

func TestMaxInFlightSeenTracksAClientCap(t *testing.T) {
	o := smallOptions()
	o.Faults.Latency = 30 * time.Millisecond
	e := newEnv(t, o)
	tok := e.token()
	var wg sync.WaitGroup
	for range 4 { // a well-behaved client capped at 4 workers
		wg.Go(func() {
			for range 3 {
				if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
					t.Errorf("status %d", res.status)
				}
			}
		})
	}
	wg.Wait()
	if got := e.s.Stats().MaxInFlightSeen; got < 2 || got > 4 {
		t.Errorf("MaxInFlightSeen %d, want within the client's cap of 4", got)
	}
}

func TestPerMinuteLimit(t *testing.T) {
	o := smallOptions()
	o.RequestsPerMinute = 5
	e := newEnv(t, o)
	tok := e.token()
	for i := range 5 {
		if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
			t.Fatalf("request %d: %d", i+1, res.status)
		}
		e.clock.Advance(time.Second)
	}
	assertThrottle(t, e.query(tok, "SELECT COUNT(*) FROM Item")) // t0+5s: 5 in the last minute
	e.clock.Advance(54 * time.Second)                            // t0+59s
	assertThrottle(t, e.query(tok, "SELECT COUNT(*) FROM Item"))
	e.clock.Advance(time.Second) // t0+60s: the first request left the window
	if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
		t.Fatalf("after the first request aged out: %d", res.status)
	}
	assertThrottle(t, e.query(tok, "SELECT COUNT(*) FROM Item")) // only one slot freed
	e.clock.Advance(time.Second)
	if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
		t.Fatalf("second slot: %d", res.status)
	}
	st := e.s.Stats()
	if st.Throttled429PerMinute != 3 || st.Status429 != 3 || st.Status200 != 7 || st.MaxPerMinuteSeen != 8 {
		t.Errorf("stats per-minute %d 429 %d 200 %d max/min %d", st.Throttled429PerMinute, st.Status429, st.Status200, st.MaxPerMinuteSeen)
	}
}

func TestUnlimited(t *testing.T) {
	o := smallOptions()
	o.RequestsPerMinute, o.MaxInFlight = -1, -1
	e := newEnv(t, o)
	tok := e.token()
	for i := range 600 {
		if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
			t.Fatalf("request %d: %d", i+1, res.status)
		}
	}
}

func TestDefaultPerMinuteIs500(t *testing.T) {
	e := newEnv(t, smallOptions())
	tok := e.token()
	for i := range 500 {
		if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
			t.Fatalf("request %d: %d", i+1, res.status)
		}
	}
	assertThrottle(t, e.query(tok, "SELECT COUNT(*) FROM Item"))
}
