package sandbox

import (
	"encoding/json"
	"net/http"
	"testing"
)

// gatewayFault is the lower-case body of 401 and 403.
type gatewayFault struct {
	Warnings    any `json:"warnings"`
	IntuitObj   any `json:"intuitObject"`
	FaultObject struct {
		Error []struct {
			Message string  `json:"message"`
			Detail  string  `json:"detail"`
			Code    string  `json:"code"`
			Element *string `json:"element"`
		} `json:"error"`
		Type string `json:"type"`
	} `json:"fault"`
	Time int64 `json:"time"`
}

func TestUnauthorized(t *testing.T) {
	e := newEnv(t, smallOptions())
	cases := []struct {
		name       string
		header     string
		wantDetail string
	}{
		{"no header", "", "Malformed bearer token: too short or too long"},
		{"empty bearer", "Bearer ", "Malformed bearer token: too short or too long"},
		{"basic scheme", "Basic dXNlcjpwYXNz", "Malformed bearer token: too short or too long"},
		{"unknown token", "Bearer expired-token-value", "Token expired: " + fingerprint("expired-token-value")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := mustRequest(t, http.MethodGet, e.queryURL(e.s.RealmID(), "SELECT * FROM Customer"))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res := e.do(req)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status %d", res.status)
			}
			if got := res.header.Get("WWW-Authenticate"); got != `Bearer realm="Intuit", error="invalid_token"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
			if res.header.Get("Content-Type") != contentTypeJSON || res.header.Get("intuit_tid") == "" {
				t.Errorf("headers %v", res.header)
			}
			var f gatewayFault
			if err := json.Unmarshal(res.body, &f); err != nil {
				t.Fatal(err)
			}
			errs := f.FaultObject.Error
			if len(errs) != 1 || errs[0].Code != "3200" || errs[0].Detail != tc.wantDetail || errs[0].Element != nil ||
				errs[0].Message != "message=AuthenticationFailed; errorCode=003200; statusCode=401" || f.FaultObject.Type != "AUTHENTICATION" {
				t.Errorf("body %s", res.body)
			}
			if f.Time != fixedNow().UnixMilli() {
				t.Errorf("time %d, want epoch ms %d", f.Time, fixedNow().UnixMilli())
			}
		})
	}
	if st := e.s.Stats(); st.Status401 != 4 || st.DataRequests != 4 {
		t.Errorf("stats 401 %d data %d", st.Status401, st.DataRequests)
	}
}

func TestWrongRealmForbidden(t *testing.T) {
	e := newEnv(t, smallOptions())
	tok := e.token()
	res := e.queryRealm("4620816365201690220", tok, "SELECT * FROM Customer")
	if res.status != http.StatusForbidden {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var f gatewayFault
	if err := json.Unmarshal(res.body, &f); err != nil {
		t.Fatal(err)
	}
	if e0 := f.FaultObject.Error[0]; e0.Code != "3100" || e0.Message != "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403" {
		t.Errorf("body %s", res.body)
	}
	if res.header.Get("WWW-Authenticate") != "" {
		t.Error("403 must not ask for re-authentication")
	}
	if res := e.query(tok, "SELECT * FROM Customer"); res.status != 200 {
		t.Errorf("right realm: %d", res.status)
	}
}

func TestTransactionIDsUnique(t *testing.T) {
	e := newEnv(t, smallOptions())
	tok := e.token()
	seen := map[string]bool{}
	for i := range 20 {
		var res response
		switch i % 3 {
		case 0:
			res = e.query(tok, "SELECT COUNT(*) FROM Item")
		case 1:
			res = e.query("", "SELECT COUNT(*) FROM Item")
		default:
			res = e.do(mustRequest(t, http.MethodGet, e.hs.URL+"/_sandbox/health"))
		}
		tid := res.header.Get("intuit_tid")
		if tid == "" || seen[tid] {
			t.Fatalf("intuit_tid %q missing or repeated", tid)
		}
		seen[tid] = true
	}
}
