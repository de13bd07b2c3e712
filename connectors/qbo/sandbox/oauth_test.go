package sandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRefreshRotatesAndRejectsReuse(t *testing.T) {
	e := newEnv(t, smallOptions())
	first := e.s.RefreshToken()
	if first != DefaultRefreshToken {
		t.Fatalf("initial refresh token = %q, want %q", first, DefaultRefreshToken)
	}
	res := e.refresh(first)
	if res.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != contentTypeJSON {
		t.Errorf("Content-Type = %q", ct)
	}
	if res.header.Get("intuit_tid") == "" {
		t.Error("token response has no intuit_tid")
	}
	var tr map[string]any
	if err := json.Unmarshal(res.body, &tr); err != nil {
		t.Fatal(err)
	}
	if tr["token_type"] != "bearer" || tr["expires_in"] != 3600.0 || tr["x_refresh_token_expires_in"] != 8726400.0 {
		t.Errorf("token response fields: %v", tr)
	}
	second, _ := tr["refresh_token"].(string)
	access, _ := tr["access_token"].(string)
	if second == "" || second == first || len(access) < 40 {
		t.Fatalf("rotation: old %q new %q access len %d", first, second, len(access))
	}
	if got := e.s.RefreshToken(); got != second {
		t.Errorf("RefreshToken() = %q, want the rotated %q", got, second)
	}

	reuse := e.refresh(first)
	if reuse.status != http.StatusBadRequest || string(reuse.body) != `{"error":"invalid_grant"}` {
		t.Errorf("reuse of old refresh token: %d %s", reuse.status, reuse.body)
	}
	if reuse.header.Get("intuit_tid") == "" {
		t.Error("invalid_grant has no intuit_tid")
	}
	if unknown := e.refresh("never-issued"); unknown.status != http.StatusBadRequest || string(unknown.body) != `{"error":"invalid_grant"}` {
		t.Errorf("unknown refresh token: %d %s", unknown.status, unknown.body)
	}
	// The rotated token still works once, then it too is spent.
	if res := e.refresh(second); res.status != http.StatusOK {
		t.Errorf("rotated token refused: %d %s", res.status, res.body)
	}
	if res := e.refresh(second); res.status != http.StatusBadRequest {
		t.Errorf("spent rotated token accepted: %d", res.status)
	}
	st := e.s.Stats()
	if st.Refreshes != 2 || st.RefreshFailures != 3 || len(st.PerToken) != 2 {
		t.Errorf("stats: refreshes %d failures %d tokens %d", st.Refreshes, st.RefreshFailures, len(st.PerToken))
	}
	// The access token from the first refresh stays valid until it expires.
	if res := e.query(access, "SELECT COUNT(*) FROM Invoice"); res.status != http.StatusOK {
		t.Errorf("old access token refused: %d", res.status)
	}
}

func TestTokenEndpointClientAuthAndGrants(t *testing.T) {
	e := newEnv(t, smallOptions())
	post := func(form url.Values, basicUser, basicPass string) response {
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/oauth2/v1/tokens/bearer", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basicUser != "" {
			req.SetBasicAuth(basicUser, basicPass)
		}
		return e.do(req)
	}
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cases := []struct {
		name       string
		form       url.Values
		user, pass string
		wantStatus int
		wantBody   string
	}{
		{"basic auth", form("grant_type", "refresh_token", "refresh_token", "@current"), DefaultClientID, DefaultClientSecret, 200, ""},
		{"form credentials", form("grant_type", "refresh_token", "refresh_token", "@current", "client_id", DefaultClientID, "client_secret", DefaultClientSecret), "", "", 200, ""},
		{"url-encoded basic", form("grant_type", "refresh_token", "refresh_token", "@current"), url.QueryEscape(DefaultClientID), url.QueryEscape(DefaultClientSecret), 200, ""},
		{"wrong secret basic", form("grant_type", "refresh_token", "refresh_token", "@current"), DefaultClientID, "nope", 401, `{"error":"invalid_client"}`},
		{"wrong id form", form("grant_type", "refresh_token", "refresh_token", "@current", "client_id", "x", "client_secret", DefaultClientSecret), "", "", 401, `{"error":"invalid_client"}`},
		{"no credentials", form("grant_type", "refresh_token", "refresh_token", "@current"), "", "", 401, `{"error":"invalid_client"}`},
		{"authorization_code grant", form("grant_type", "authorization_code", "code", "abc"), DefaultClientID, DefaultClientSecret, 400, `{"error":"unsupported_grant_type"}`},
		{"client_credentials grant", form("grant_type", "client_credentials"), DefaultClientID, DefaultClientSecret, 400, `{"error":"unsupported_grant_type"}`},
		{"missing grant", form("refresh_token", "@current"), DefaultClientID, DefaultClientSecret, 400, `{"error":"invalid_request"}`},
		{"missing refresh token", form("grant_type", "refresh_token"), DefaultClientID, DefaultClientSecret, 400, `{"error":"invalid_grant"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.form.Get("refresh_token") == "@current" {
				tc.form.Set("refresh_token", e.s.RefreshToken())
			}
			before := e.s.RefreshToken()
			res := post(tc.form, tc.user, tc.pass)
			if res.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.status, tc.wantStatus, res.body)
			}
			if tc.wantBody != "" && string(res.body) != tc.wantBody {
				t.Errorf("body %s, want %s", res.body, tc.wantBody)
			}
			rotated := e.s.RefreshToken() != before
			if rotated != (tc.wantStatus == 200) {
				t.Errorf("rotated = %v for status %d", rotated, res.status)
			}
		})
	}
	if got := e.do(mustRequest(t, http.MethodGet, e.hs.URL+"/oauth2/v1/tokens/bearer")).status; got != http.StatusMethodNotAllowed {
		t.Errorf("GET token endpoint: %d", got)
	}
}

func TestConcurrentRefreshOnlyOneWins(t *testing.T) {
	e := newEnv(t, smallOptions())
	rt := e.s.RefreshToken()
	const n = 8
	statuses := make(chan int, n)
	for range n {
		go func() { statuses <- e.refresh(rt).status }()
	}
	ok, bad := 0, 0
	for range n {
		switch <-statuses {
		case 200:
			ok++
		case 400:
			bad++
		}
	}
	if ok != 1 || bad != n-1 {
		t.Errorf("concurrent refresh with one token: %d ok, %d invalid_grant; want 1 and %d", ok, bad, n-1)
	}
}

func TestAccessTokenExpiresWithClock(t *testing.T) {
	o := smallOptions()
	o.AccessTokenTTL = 10 * time.Minute
	e := newEnv(t, o)
	tok := e.token()
	if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
		t.Fatalf("fresh token: %d", res.status)
	}
	e.clock.Advance(10*time.Minute - time.Second)
	if res := e.query(tok, "SELECT COUNT(*) FROM Item"); res.status != 200 {
		t.Fatalf("token before expiry: %d", res.status)
	}
	e.clock.Advance(time.Second)
	res := e.query(tok, "SELECT COUNT(*) FROM Item")
	if res.status != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", res.status)
	}
	if !strings.Contains(string(res.body), `"detail":"Token expired: `) {
		t.Errorf("expired token body: %s", res.body)
	}
	st := e.s.Stats()
	if st.PerToken[0].Requests != 2 || st.PerToken[0].Rejected != 1 {
		t.Errorf("token stats %+v", st.PerToken[0])
	}
}

func TestLoseRefreshResponse(t *testing.T) {
	o := smallOptions()
	o.Faults.LoseRefreshResponse = 2
	e := newEnv(t, o)
	if res := e.refresh(e.s.RefreshToken()); res.status != 200 {
		t.Fatalf("first refresh: %d", res.status)
	}
	held := e.s.RefreshToken() // what the client persisted
	res := e.refresh(held)
	if res.status != http.StatusBadGateway || !strings.Contains(string(res.body), "502 Bad Gateway") {
		t.Fatalf("second refresh: %d %s", res.status, res.body)
	}
	if e.s.RefreshToken() == held {
		t.Fatal("lost refresh did not rotate the token")
	}
	if res := e.refresh(held); res.status != 400 || string(res.body) != `{"error":"invalid_grant"}` {
		t.Errorf("client retry with the token it held: %d %s", res.status, res.body)
	}
	if res := e.refresh(e.s.RefreshToken()); res.status != 200 {
		t.Errorf("third (K+1-th) refresh: %d", res.status)
	}
	if st := e.s.Stats(); st.LostRefreshResponses != 1 || st.Refreshes != 3 {
		t.Errorf("stats lost %d refreshes %d", st.LostRefreshResponses, st.Refreshes)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestTokenStateFileSurvivesARestart(t *testing.T) {
	o := smallOptions()
	o.TokenStateFile = t.TempDir() + "/token"
	e := newEnv(t, o)
	res := e.refresh(DefaultRefreshToken)
	if res.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.status, res.body)
	}
	var tr struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(res.body, &tr); err != nil {
		t.Fatal(err)
	}
	// A new server from the same file accepts the rotated token only.
	restarted := newEnv(t, o)
	if got := restarted.s.RefreshToken(); got != tr.RefreshToken {
		t.Fatalf("after a restart the valid token is %q, want the rotated one", got)
	}
	if res := restarted.refresh(DefaultRefreshToken); res.status != http.StatusBadRequest {
		t.Fatalf("the initial token still works after rotation and restart: %d", res.status)
	}
	if res := restarted.refresh(tr.RefreshToken); res.status != http.StatusOK {
		t.Fatalf("the rotated token is refused after a restart: %d %s", res.status, res.body)
	}
}
