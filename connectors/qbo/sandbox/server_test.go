package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestServeAndShutdown(t *testing.T) {
	s, err := New(smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	res, err := http.Get(base + "/_sandbox/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("health: %d %s", res.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get(base + "/_sandbox/health"); err == nil {
		t.Error("server still answering after shutdown")
	}
}

func TestListenAndServeBadAddress(t *testing.T) {
	s, err := New(smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ListenAndServe(context.Background(), "256.0.0.1:bad"); err == nil {
		t.Error("want a listen error")
	}
}

func TestStatsEndpoint(t *testing.T) {
	e := newEnv(t, smallOptions())
	tok := e.token()
	e.query(tok, "SELECT * FROM Invoice MAXRESULTS 3")
	e.query("", "SELECT * FROM Invoice")
	res := e.do(mustRequest(t, http.MethodGet, e.hs.URL+"/_sandbox/stats"))
	var st Stats
	if err := json.Unmarshal(res.body, &st); err != nil {
		t.Fatalf("stats JSON: %v", err)
	}
	if st.DataRequests != 2 || st.RecordsServed != 3 || st.Status401 != 1 || st.Refreshes != 1 || len(st.PerToken) != 1 || st.PerToken[0].Requests != 1 {
		t.Errorf("stats %+v", st)
	}
	for _, secret := range []string{tok, e.s.RefreshToken(), DefaultClientSecret} {
		if bytes.Contains(res.body, []byte(secret)) {
			t.Error("stats leak a secret")
		}
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	o := smallOptions()
	o.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Faults.LoseRefreshResponse = 2
	e := newEnv(t, o)
	first := e.s.RefreshToken()
	tok := e.token()
	e.query(tok, "SELECT * FROM Customer MAXRESULTS 2")
	e.query("bogus-token", "SELECT * FROM Customer")
	e.refresh(e.s.RefreshToken()) // lost response
	e.refresh("spent")
	if !bytes.Contains(buf.Bytes(), []byte("intuit_tid=")) || !bytes.Contains(buf.Bytes(), []byte("status=401")) {
		t.Fatalf("request log missing:\n%s", buf.String())
	}
	for _, secret := range []string{first, tok, e.s.RefreshToken(), DefaultClientSecret, "bogus-token"} {
		if bytes.Contains(buf.Bytes(), []byte(secret)) {
			t.Errorf("log contains a secret (%d chars)", len(secret))
		}
	}
}
