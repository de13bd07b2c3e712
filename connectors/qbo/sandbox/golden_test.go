package sandbox

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestGolden pins the exact bytes of envelopes and fault bodies. Regenerate
// with: go test ./connectors/qbo/sandbox/ -run TestGolden -update
func TestGolden(t *testing.T) {
	o := Options{Seed: 7, Customers: 4, Items: 4, Invoices: 4,
		Ties: []Tie{{Entity: EntityInvoice, Count: 1, At: time.Date(2024, 12, 24, 17, 0, 0, 0, time.UTC)}}}
	e := newEnv(t, o)
	tok := e.token()
	cases := []struct {
		file, stmt, token, realm string
		faults                   *Faults
		status                   int
		contentType              string
	}{
		{file: "envelope_customer.json", stmt: "SELECT * FROM Customer WHERE Active IN (true, false) MAXRESULTS 2", status: 200},
		{file: "envelope_item.json", stmt: "SELECT * FROM Item WHERE Active IN (true, false) STARTPOSITION 3 MAXRESULTS 2", status: 200},
		{file: "envelope_invoice.json", stmt: "SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime DESC MAXRESULTS 2", status: 200},
		{file: "envelope_empty.json", stmt: "SELECT * FROM Invoice WHERE Id = '404'", status: 200},
		{file: "envelope_count.json", stmt: "SELECT COUNT(*) FROM Invoice", status: 200},
		{file: "fault_401.json", stmt: "SELECT * FROM Invoice", token: "expired-token-value", status: 401},
		{file: "fault_403.json", stmt: "SELECT * FROM Invoice", realm: "4620816365201690220", status: 403},
		{file: "fault_429.json", stmt: "SELECT * FROM Invoice", faults: &Faults{Every429: 1}, status: 429},
		{file: "fault_429.xml", stmt: "SELECT * FROM Invoice", faults: &Faults{Every429: 1, XML429: true}, status: 429, contentType: contentTypeXML},
		{file: "fault_500.json", stmt: "SELECT * FROM Invoice", faults: &Faults{Every5xx: 1}, status: 500},
		{file: "fault_malformed.html", stmt: "SELECT * FROM Invoice", faults: &Faults{EveryMalformed: 1}, status: 200, contentType: contentTypeHTML},
		{file: "fault_4000_parse.json", stmt: "SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'", status: 400},
		{file: "fault_4001_maxresults.json", stmt: "SELECT * FROM Invoice MAXRESULTS 1500", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			if tc.faults != nil {
				e.s.SetFaults(*tc.faults)
				defer e.s.SetFaults(Faults{})
			}
			token, realm := tok, e.s.RealmID()
			if tc.token != "" {
				token = tc.token
			}
			if tc.realm != "" {
				realm = tc.realm
			}
			res := e.queryRealm(realm, token, tc.stmt)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			want := tc.contentType
			if want == "" {
				want = contentTypeJSON
			}
			if got := res.header.Get("Content-Type"); got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
			golden(t, tc.file, res.body)
		})
	}
	t.Run("oauth", func(t *testing.T) {
		res := e.refresh("spent-token")
		golden(t, "oauth_invalid_grant.json", res.body)
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/oauth2/v1/tokens/bearer",
			strings.NewReader("grant_type=refresh_token&refresh_token=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("who", "knows")
		golden(t, "oauth_invalid_client.json", e.do(req).body)
	})
}
