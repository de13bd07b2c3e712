package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var sample = []Check{
	ok("pipelines", "3 pipelines"),
	fail("secret QBO_CLIENT_SECRET", "not set", "set QBO_CLIENT_SECRET or QBO_CLIENT_SECRET_FILE or /run/secrets/qbo_client_secret"),
	warn("postgres schema etl", "at version 1", "run etl migrate"),
	skip("qbo refresh", "not run", ""),
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sample); err != nil {
		t.Fatal(err)
	}
	want := `ok    pipelines                 3 pipelines
FAIL  secret QBO_CLIENT_SECRET  not set
                                fix: set QBO_CLIENT_SECRET or QBO_CLIENT_SECRET_FILE or /run/secrets/qbo_client_secret
WARN  postgres schema etl       at version 1
                                fix: run etl migrate
skip  qbo refresh               not run

4 checks: 1 ok, 1 warning, 1 failed, 1 skipped
fix the FAIL lines above, then run etl doctor again
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sample); err != nil {
		t.Fatal(err)
	}
	var r Report
	dec := json.NewDecoder(strings.NewReader(b.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Counts != (Counts{OK: 1, Warn: 1, Fail: 1, Skip: 1}) || len(r.Checks) != 4 || r.Checks[1] != sample[1] {
		t.Errorf("decoded %+v", r)
	}
	b.Reset()
	if err := WriteJSON(&b, nil); err != nil || !strings.Contains(b.String(), `"checks": []`) || !strings.Contains(b.String(), `"ok": true`) {
		t.Errorf("empty: %v %s", err, b.String())
	}
}
