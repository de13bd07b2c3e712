package diag

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{File: "p.yaml", Line: 3, Col: 7, Severity: Error, Message: "bad"}, "p.yaml:3:7: error: bad"},
		{Diagnostic{File: "p.yaml", Line: 3, Col: 7, Severity: Warning, Message: "odd", Hint: "fix it"}, "p.yaml:3:7: warning: odd\n    hint: fix it"},
		{Diagnostic{File: "p.yaml", Severity: Error, Message: "cannot read"}, "p.yaml: error: cannot read"},
		{Diagnostic{File: "command line", Severity: Error, Message: "missing"}, "command line: error: missing"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestListSortCountErr(t *testing.T) {
	var l List
	if l.HasErrors() || l.Err() != nil {
		t.Error("an empty list has errors")
	}
	l.Warnf("b.yaml", 1, 1, "", "w")
	l.Errorf("a.yaml", 9, 1, "/x", "second %d", 2).Hint = "h"
	l.Errorf("a.yaml", 2, 5, "", "first")
	l.Errorf("a.yaml", 2, 5, "", "first") // exact duplicate: dropped
	l.Errorf("a.yaml", 2, 3, "", "zeroth")
	l = l.Sort()
	var got []string
	for _, d := range l {
		got = append(got, d.String())
	}
	want := []string{"a.yaml:2:3: error: zeroth", "a.yaml:2:5: error: first", "a.yaml:9:1: error: second 2\n    hint: h", "b.yaml:1:1: warning: w"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Sort() =\n%q\nwant\n%q", got, want)
	}
	if e, w := l.Count(); e != 3 || w != 1 {
		t.Errorf("Count() = %d, %d", e, w)
	}
	err := l.Err()
	if err == nil || !strings.Contains(err.Error(), "a.yaml:2:3: error: zeroth\n") {
		t.Errorf("Err() = %v", err)
	}
	warnOnly := List{{File: "x", Severity: Warning, Message: "w"}}
	if warnOnly.Err() != nil {
		t.Error("warnings alone are an error")
	}
}

func TestJSON(t *testing.T) {
	b, err := List(nil).JSON()
	if err != nil || string(b) != "[]" {
		t.Errorf("JSON of nil = %s, %v", b, err)
	}
	b, _ = List{{File: "f", Line: 1, Col: 2, Severity: Error, Message: "m"}}.JSON()
	var back []map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if _, has := back[0]["hint"]; has {
		t.Error("an empty hint is written")
	}
	if _, has := back[0]["path"]; has {
		t.Error("an empty path is written")
	}
	if back[0]["severity"] != "error" || back[0]["line"] != 1.0 || back[0]["col"] != 2.0 {
		t.Errorf("JSON = %s", b)
	}
}
