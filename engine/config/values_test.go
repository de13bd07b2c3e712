package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etl-engine/etl/engine/component"
)

func TestParseTemplate(t *testing.T) {
	param := func(name string, off int) Segment {
		return Segment{Ref: &Ref{Kind: RefParam, Name: name, Offset: off}}
	}
	env := func(name, def string, hasDef bool, off int) Segment {
		return Segment{Ref: &Ref{Kind: RefEnv, Name: name, Default: def, HasDefault: hasDef, Offset: off}}
	}
	sec := func(name string, off int) Segment {
		return Segment{Ref: &Ref{Kind: RefSecret, Name: name, Offset: off}}
	}
	text := func(s string) Segment { return Segment{Text: s} }
	tests := []struct {
		in      string
		want    Template
		errOff  int
		errText string // substring of the error; "" means no error
	}{
		{in: "", want: nil},
		{in: "plain text", want: Template{text("plain text")}},
		{in: "${params.fecha_inicio}", want: Template{param("fecha_inicio", 0)}},
		{in: "${env:QBO_ENV}", want: Template{env("QBO_ENV", "", false, 0)}},
		{in: "${env:QBO_ENV:-production}", want: Template{env("QBO_ENV", "production", true, 0)}},
		{in: "${env:QBO_BASE_URL:-}", want: Template{env("QBO_BASE_URL", "", true, 0)}},
		{in: "${env:URL:-http://x:8080/a}", want: Template{env("URL", "http://x:8080/a", true, 0)}},
		{in: "${secret:QBO_CLIENT_SECRET}", want: Template{sec("QBO_CLIENT_SECRET", 0)}},
		{in: "$${params.x}", want: Template{text("${params.x}")}},
		{in: "cost: $5", want: Template{text("cost: $5")}},
		{in: "a$${b}${params.c}", want: Template{text("a${b}"), param("c", 6)}},
		{in: "raw_${params.entity}_${env:SUFFIX:-x}",
			want: Template{text("raw_"), param("entity", 4), text("_"), env("SUFFIX", "x", true, 21)}},
		{in: "https://${secret:TOKEN}@host", want: Template{text("https://"), sec("TOKEN", 8), text("@host")}},
		// Errors, with the byte offset of the faulty reference.
		{in: "${params.fecha_inicio", errOff: 0, errText: "unterminated reference"},
		{in: "abc ${env:X", errOff: 4, errText: "unterminated reference"},
		{in: "${vault:db/pass}", errText: `unknown reference ${vault:db/pass}: "vault" is not params, env or secret`},
		{in: "ok ${param.x}", errOff: 3, errText: `"param" is not params, env or secret`},
		{in: "${}", errText: "unknown reference ${}"},
		{in: "${params.}", errText: "invalid parameter reference"},
		{in: "${params.a-b}", errText: "invalid parameter reference"},
		{in: "${params.1st}", errText: "invalid parameter reference"},
		{in: "${env:}", errText: "invalid environment reference"},
		{in: "${env:A B}", errText: "invalid environment reference"},
		{in: "${secret:}", errText: "invalid secret reference"},
		{in: "${secret:DB_PASS:-hunter2}", errText: "cannot have a default"},
		{in: "${secret:DB_PASS:-}", errText: "cannot have a default"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, off, err := ParseTemplate(tt.in)
			if tt.errText != "" {
				if err == nil {
					t.Fatalf("ParseTemplate(%q) = %v, want an error containing %q", tt.in, got, tt.errText)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q does not contain %q", err, tt.errText)
				}
				if off != tt.errOff {
					t.Errorf("error offset %d, want %d", off, tt.errOff)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTemplate(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTemplate(%q) =\n  %s\nwant\n  %s", tt.in, dumpTemplate(got), dumpTemplate(tt.want))
			}
		})
	}
}

func dumpTemplate(t Template) string {
	var b strings.Builder
	for _, s := range t {
		if s.Ref != nil {
			fmt.Fprintf(&b, "%+v ", *s.Ref)
			continue
		}
		fmt.Fprintf(&b, "%q ", s.Text)
	}
	return b.String()
}

func TestTemplateWholeAndRefs(t *testing.T) {
	tt, _, err := ParseTemplate("${params.a}")
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := tt.Whole(); !ok || r.Name != "a" {
		t.Errorf("Whole() = %v, %v; want the reference to a", r, ok)
	}
	tt, _, _ = ParseTemplate("x${params.a}${env:B}")
	if _, ok := tt.Whole(); ok {
		t.Error("Whole() is true for text around references")
	}
	if refs := tt.Refs(); len(refs) != 2 || refs[0].Name != "a" || refs[1].Name != "B" {
		t.Errorf("Refs() = %v", refs)
	}
}

func TestParseTimestamp(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return tm
	}
	tests := []struct {
		in      string
		want    time.Time
		errText string
	}{
		{in: "2024-01-01T00:00:00Z", want: utc("2024-01-01T00:00:00Z")},
		{in: "2024-01-01T00:00:00-05:00", want: utc("2024-01-01T05:00:00Z")},
		{in: "2024-01-01T00:00:00+05:30", want: utc("2023-12-31T18:30:00Z")},
		{in: "2024-02-29T23:59:59.123456789Z", want: utc("2024-02-29T23:59:59.123456789Z")},
		{in: "2024-01-01 00:00:00Z", want: utc("2024-01-01T00:00:00Z")},
		{in: "2024-01-01 00:00:00-05:00", want: utc("2024-01-01T05:00:00Z")},
		// No offset: refused, whatever the layout.
		{in: "2024-01-01T00:00:00", errText: `timestamp "2024-01-01T00:00:00" has no UTC offset`},
		{in: "2024-01-01T00:00:00.5", errText: "has no UTC offset"},
		{in: "2024-01-01 00:00:00", errText: "has no UTC offset"},
		{in: "2024-01-01T00:00", errText: "has no UTC offset"},
		{in: "2024-01-01 23:59", errText: "has no UTC offset"},
		{in: "2024-01-01", errText: `timestamp "2024-01-01" has no UTC offset`},
		// Not timestamps at all.
		{in: "", errText: `"" is not a timestamp`},
		{in: "yesterday", errText: `"yesterday" is not a timestamp`},
		{in: "2024-13-01T00:00:00Z", errText: "is not a timestamp"},
		{in: "2023-02-29T00:00:00Z", errText: "is not a timestamp"},
		{in: "2024-01-01T24:00:00Z", errText: "is not a timestamp"},
		{in: "2024-01-01T00:00:00+24:00", errText: "offset +24:00 is out of range"},
		{in: "2024-01-01T00:00:00-99:00", errText: "is not a timestamp"},
		{in: "1704067200", errText: "is not a timestamp"},
		{in: "01/02/2024", errText: "is not a timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTimestamp(tt.in)
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("ParseTimestamp(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTimestamp(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseTimestamp(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateIdentifier(t *testing.T) {
	tests := []struct {
		in      string
		errText string // "" when valid
	}{
		{in: "raw"},
		{in: "qb_items"},
		{in: "_staging"},
		{in: "t2024"},
		{in: strings.Repeat("a", 63)},
		{in: "", errText: "identifier is empty"},
		{in: strings.Repeat("a", 64), errText: "is 64 bytes long; PostgreSQL keeps only 63"},
		{in: strings.Repeat("é", 32), errText: "is 64 bytes long"}, // bytes, not characters
		{in: `qb"items`, errText: "contains quotes, semicolons or comment markers"},
		{in: "qb'items", errText: "contains quotes"},
		{in: "items;drop table x", errText: "contains quotes, semicolons"},
		{in: "items--", errText: "comment markers"},
		{in: `items\`, errText: "contains quotes"},
		{in: "items\x00", errText: "contains quotes"},
		{in: "QB_Items", errText: "must be lower-case letters, digits and underscores"},
		{in: "1items", errText: "not starting with a digit"},
		{in: "qb items", errText: "must be lower-case"},
		{in: "qb-items", errText: "must be lower-case"},
		{in: "raw.qb_items", errText: "must be lower-case"},
		{in: "tablé", errText: "must be lower-case"},
		{in: "/*x*/", errText: "must be lower-case"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidateIdentifier(tt.in)
			switch {
			case tt.errText == "" && err != nil:
				t.Errorf("ValidateIdentifier(%q) = %v, want nil", tt.in, err)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Errorf("ValidateIdentifier(%q) = %v, want an error containing %q", tt.in, err, tt.errText)
			}
		})
	}
}

func TestDecodeField(t *testing.T) {
	port := component.Field{Name: "port", Type: component.TypeInteger, Min: component.Int64(1), Max: component.Int64(65535)}
	count := component.Field{Name: "count", Type: component.TypeInteger}
	flag := component.Field{Name: "flag", Type: component.TypeBoolean}
	wait := component.Field{Name: "wait", Type: component.TypeDuration}
	table := component.Field{Name: "table", Type: component.TypeIdentifier}
	paths := component.Field{Name: "paths", Type: component.TypeStringList}
	mode := component.Field{Name: "sslmode", Type: component.TypeString, Enum: []string{"disable", "require"}}
	name := component.Field{Name: "name", Type: component.TypeString}
	tests := []struct {
		name    string
		f       component.Field
		in      any
		want    any
		errText string
	}{
		{"int", port, int64(5432), int64(5432), ""},
		{"int from string (env)", port, "5432", int64(5432), ""},
		{"int from string with spaces", port, " 5432 ", int64(5432), ""},
		{"int from whole float", count, float64(3), int64(3), ""},
		{"int from fraction", count, 2.5, nil, "2.5 is not a whole number"},
		{"int from text", port, "abc", nil, `"abc" is not an integer`},
		{"int from bool", port, true, nil, "expected an integer, got a boolean"},
		{"int from null", port, nil, nil, "expected an integer, got nothing (null)"},
		{"int below min", port, int64(0), nil, "0 is out of range 1..65535"},
		{"int above max", port, "70000", nil, "70000 is out of range 1..65535"},
		{"int unbounded", count, int64(-7), int64(-7), ""},
		{"bool", flag, false, false, ""},
		{"bool from string", flag, "true", true, ""},
		{"bool from bad string", flag, "yes", nil, `"yes" is not true or false`},
		{"bool from int", flag, int64(1), nil, "expected true or false, got an integer"},
		{"duration", wait, "90s", 90 * time.Second, ""},
		{"duration compound", wait, "1h30m", 90 * time.Minute, ""},
		{"duration without unit", wait, int64(30), nil, `"30" is not a duration`},
		{"duration days", wait, "1d", nil, `"1d" is not a duration`},
		{"duration negative", wait, "-5s", nil, `duration "-5s" must be positive`},
		{"duration zero", wait, "0s", nil, "must be positive"},
		{"identifier", table, "qb_items", "qb_items", ""},
		{"identifier unsafe", table, `x";drop`, nil, "contains quotes"},
		{"identifier from int", table, int64(5), nil, "must be lower-case"},
		{"identifier from list", table, []any{"a"}, nil, "expected a string, got a list"},
		{"string list", paths, []any{"Id", "SyncToken"}, []string{"Id", "SyncToken"}, ""},
		{"string list of []string", paths, []string{"Id"}, []string{"Id"}, ""},
		{"string list empty", paths, []any{}, []string{}, ""},
		{"string list with number", paths, []any{"Id", int64(3)}, nil, "expected a list of strings, found an integer"},
		{"string list from string", paths, "Id", nil, "expected a list of strings, got a string"},
		{"enum", mode, "require", "require", ""},
		{"enum bad", mode, "required", nil, `"required" is not one of disable, require`},
		{"string", name, "x", "x", ""},
		{"string from int", name, int64(7), "7", ""},
		{"string from mapping", name, map[string]any{}, nil, "expected a string, got a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeField(tt.f, tt.in)
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("DecodeField(%s, %#v) = %#v, %v; want error containing %q", tt.f.Name, tt.in, got, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeField(%s, %#v): %v", tt.f.Name, tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeField(%s, %#v) = %#v, want %#v", tt.f.Name, tt.in, got, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"version", "name", "description", "parameters", "segmentation", "loader", "transforms", "exporter", "retry", "rate_limit", "timeouts", "concurrency"}
	tests := []struct {
		in         string
		candidates []string
		want       string
	}{
		{"segmentaton", keys, "segmentation"},
		{"paramters", keys, "parameters"},
		{"Loader", keys, "loader"}, // case is folded
		{"LOADER", keys, "loader"},
		{"exporters", keys, "exporter"},
		{"transform", keys, "transforms"},
		{"retries", keys, ""}, // three edits in seven letters: too far
		{"rate-limit", keys, "rate_limit"},
		{"timeout", keys, "timeouts"},
		{"page_sise", []string{"entity", "page_size", "minor_version"}, "page_size"},
		{"qbo.querry", []string{"qbo.query"}, "qbo.query"},
		{"onse", []string{"once", "cron"}, "once"},
		{"requires", []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}, "require"},
		// Too far to be a typo: no suggestion rather than a silly one.
		{"notes", keys, ""},
		{"x", keys, ""},
		{"bool", []string{"timestamp", "integer", "string", "boolean", "duration"}, ""},
		{"mysql.upsert", []string{"postgres.upsert"}, ""},
		{"anything", nil, ""},
		{"", keys, ""},
		// Short words allow a single edit.
		{"nme", keys, "name"},
		{"nmae", keys, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := suggest(tt.in, tt.candidates); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
			}
			hint := didYouMean(tt.in, tt.candidates)
			if want := `did you mean "` + tt.want + `"?`; tt.want != "" && hint != want {
				t.Errorf("didYouMean(%q) = %q, want %q", tt.in, hint, want)
			} else if tt.want == "" && hint != "" {
				t.Errorf("didYouMean(%q) = %q, want none", tt.in, hint)
			}
		})
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"same", "same", 0},
	} {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := levenshtein(tt.b, tt.a); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d (not symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}
