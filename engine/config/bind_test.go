package config_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/etl-engine/etl/connectors/all"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/diag"
	"github.com/etl-engine/etl/engine/secret"
)

func loadShipped(t *testing.T, name string) *config.Pipeline {
	t.Helper()
	p, ds := config.LoadPipeline(filepath.Join("..", "..", "pipelines", name))
	if p == nil || ds.HasErrors() {
		t.Fatalf("%s: %v", name, ds.Err())
	}
	return p
}

// cli returns parameter values as the command line gives them: strings,
// without a position.
func cli(kv ...string) map[string]config.ParamValue {
	out := map[string]config.ParamValue{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = config.ParamValue{Value: kv[i+1]}
	}
	return out
}

func noEnv(string) (string, bool) { return "", false }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestBind(t *testing.T) {
	p := loadShipped(t, "qb_items_backfill.yaml")
	trig := func(name string, v any, line int) config.ParamValue {
		return config.ParamValue{Value: v, File: "triggers/t.yaml", Line: line, Col: 17, Pointer: "/params/" + name, KeyLine: line, KeyCol: 3}
	}
	tests := []struct {
		name     string
		params   map[string]config.ParamValue
		missing  *config.ParamValue
		start    string
		end      string
		pageSize int64
		// On failure: the one diagnostic expected, as file:line:col: message,
		// and a substring of its hint.
		diag, hint string
	}{
		{name: "command line, default page_size",
			params: cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z"),
			start:  "2024-01-01T00:00:00Z", end: "2025-01-01T00:00:00Z", pageSize: 1000},
		{name: "command line, page_size coerced from text",
			params: cli("fecha_inicio", "2024-01-01T00:00:00-05:00", "fecha_fin", "2024-02-01T00:00:00-05:00", "page_size", " 250 "),
			start:  "2024-01-01T05:00:00Z", end: "2024-02-01T05:00:00Z", pageSize: 250},
		{name: "trigger values keep their YAML types",
			params: map[string]config.ParamValue{
				"fecha_inicio": trig("fecha_inicio", "2019-01-01T00:00:00Z", 10),
				"fecha_fin":    trig("fecha_fin", "2026-12-01T00:00:00Z", 11),
				"page_size":    trig("page_size", int64(500), 12),
			},
			start: "2019-01-01T00:00:00Z", end: "2026-12-01T00:00:00Z", pageSize: 500},
		{name: "required missing on the command line",
			params: cli("fecha_inicio", "2024-01-01T00:00:00Z"),
			diag:   "command line: parameter fecha_fin is required by pipeline qb_items_backfill", hint: "pass --param fecha_fin=VALUE"},
		{name: "required missing in a trigger",
			params:  map[string]config.ParamValue{"fecha_inicio": trig("fecha_inicio", "2019-01-01T00:00:00Z", 10)},
			missing: &config.ParamValue{File: "triggers/t.yaml", Line: 9, Col: 1, Pointer: "/params"},
			diag:    "triggers/t.yaml:9:1: parameter fecha_fin is required by pipeline qb_items_backfill", hint: "add fecha_fin under params:"},
		{name: "unknown parameter, at its key",
			params: map[string]config.ParamValue{
				"fecha_inicio": trig("fecha_inicio", "2019-01-01T00:00:00Z", 10),
				"fecha_fin":    trig("fecha_fin", "2026-12-01T00:00:00Z", 11),
				"page_sise":    trig("page_sise", int64(500), 12),
			},
			diag: `triggers/t.yaml:12:3: pipeline qb_items_backfill has no parameter "page_sise"`, hint: `did you mean "page_size"?`},
		{name: "unknown parameter on the command line",
			params: cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z", "entity", "Invoice"),
			diag:   `command line: pipeline qb_items_backfill has no parameter "entity"`, hint: "its parameters are: fecha_inicio, fecha_fin, page_size"},
		{name: "integer out of range",
			params: cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z", "page_size", "5000"),
			diag:   "command line: parameter page_size: 5000 is out of range 1..1000"},
		{name: "integer not a number",
			params: cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z", "page_size", "lots"),
			diag:   `command line: parameter page_size: "lots" is not an integer`, hint: "allowed range: 1..1000"},
		{name: "timestamp without offset",
			params: cli("fecha_inicio", "2024-01-01", "fecha_fin", "2025-01-01T00:00:00Z"),
			diag:   `command line: parameter fecha_inicio: timestamp "2024-01-01" has no UTC offset`, hint: "2024-01-01T00:00:00Z"},
		{name: "timestamp of the wrong YAML type",
			params: map[string]config.ParamValue{
				"fecha_inicio": trig("fecha_inicio", int64(2019), 10),
				"fecha_fin":    trig("fecha_fin", "2026-12-01T00:00:00Z", 11),
			},
			diag: "triggers/t.yaml:10:17: parameter fecha_inicio: expected a timestamp, got an integer"},
		{name: "end equal to start",
			params: cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2023-12-31T19:00:00-05:00"),
			diag:   "command line: fecha_fin (2024-01-01T00:00:00Z) must be after fecha_inicio (2024-01-01T00:00:00Z)", hint: "half-open"},
		{name: "end before start, in a trigger",
			params: map[string]config.ParamValue{
				"fecha_inicio": trig("fecha_inicio", "2019-01-01T00:00:00Z", 10),
				"fecha_fin":    trig("fecha_fin", "2018-01-01T00:00:00Z", 11),
			},
			diag: "triggers/t.yaml:11:17: fecha_fin (2018-01-01T00:00:00Z) must be after fecha_inicio (2019-01-01T00:00:00Z)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &config.Binder{Mode: config.BindCheck, LookupEnv: noEnv, MissingAt: tt.missing}
			bound, ds := b.Bind(p, tt.params)
			if tt.diag != "" {
				if bound != nil || len(ds) != 1 {
					t.Fatalf("Bind = %v with %d diagnostics, want one error:\n%v", bound != nil, len(ds), ds)
				}
				if got := where(ds[0]) + ds[0].Message; got != tt.diag || ds[0].Severity != diag.Error {
					t.Errorf("diagnostic\n  %s\nwant\n  %s", got, tt.diag)
				}
				if !strings.Contains(ds[0].Hint, tt.hint) {
					t.Errorf("hint %q lacks %q", ds[0].Hint, tt.hint)
				}
				return
			}
			if bound == nil || ds.HasErrors() {
				t.Fatalf("Bind: %v", ds)
			}
			if !bound.Start.Equal(ts(tt.start)) || !bound.End.Equal(ts(tt.end)) {
				t.Errorf("range [%s, %s), want [%s, %s)", bound.Start, bound.End, tt.start, tt.end)
			}
			if got := bound.Params["page_size"]; got != tt.pageSize {
				t.Errorf("page_size = %#v, want %d", got, tt.pageSize)
			}
			if got := bound.Loader.Settings.Int("page_size"); got != tt.pageSize {
				t.Errorf("loader page_size = %d, want %d", got, tt.pageSize)
			}
			if _, ok := bound.Params["fecha_inicio"].(time.Time); !ok {
				t.Errorf("fecha_inicio is %T, want time.Time", bound.Params["fecha_inicio"])
			}
			if bound.RawParams["fecha_inicio"] != ts(tt.start).UTC().Format(time.RFC3339Nano) {
				t.Errorf("raw fecha_inicio = %q", bound.RawParams["fecha_inicio"])
			}
		})
	}
}

func where(d diag.Diagnostic) string {
	if d.Line == 0 {
		return d.File + ": "
	}
	return d.File + ":" + strconv.Itoa(d.Line) + ":" + strconv.Itoa(d.Col) + ": "
}

func TestBindSettings(t *testing.T) {
	p := loadShipped(t, "qb_invoices_backfill.yaml")
	params := cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2024-07-01T00:00:00Z")

	// Checking: environment defaults apply, secrets are not read.
	b := &config.Binder{Mode: config.BindCheck, LookupEnv: noEnv}
	bound, ds := b.Bind(p, params)
	if bound == nil {
		t.Fatalf("Bind: %v", ds)
	}
	l, e := bound.Loader.Settings, bound.Exporter.Settings
	if l.String("environment") != "production" || l.String("entity") != "Invoice" || !l.Bool("include_inactive") || l.Int("minor_version") != 75 {
		t.Errorf("loader settings: %v", l)
	}
	if _, set := l["base_url"]; set {
		t.Errorf("an empty ${env:QBO_BASE_URL:-} should leave base_url unset, got %q", l["base_url"])
	}
	if e.String("host") != "localhost" || e.Int("port") != 5432 || e.String("schema") != "raw" || e.String("table") != "qb_invoices" || e.String("sslmode") != "prefer" {
		t.Errorf("exporter settings: %v", e)
	}
	if s := l.Secret("client_secret"); s.Name() != "QBO_CLIENT_SECRET" || !s.IsZero() {
		t.Errorf("checking must not read secrets: %q %v", s.Name(), s.IsZero())
	}
	for _, s := range bound.Secrets {
		if !s.IsZero() {
			t.Errorf("checking resolved secret %s", s.Name())
		}
	}
	if w, err := bound.Windows(); err != nil || len(w) != 6 {
		t.Errorf("Windows() = %d windows, %v; want 6 months", len(w), err)
	}

	// The environment is read through LookupEnv, and typed per field.
	b.LookupEnv = func(name string) (string, bool) {
		v, ok := map[string]string{"QBO_ENV": "sandbox", "POSTGRES_PORT": "6543", "POSTGRES_SSLMODE": "requires"}[name]
		return v, ok
	}
	_, ds = b.Bind(p, params)
	if len(ds) != 1 || !strings.Contains(ds[0].Message, `exporter.with.sslmode: "requires" is not one of`) || ds[0].Hint != `did you mean "require"?` {
		t.Errorf("bad sslmode from the environment: %v", ds)
	}

	// Running: secrets come from the resolver and are listed for redaction;
	// the realm id is read from the secret sources but is a plain value.
	vals := map[string]string{
		"QBO_REALM_ID": "9130350000000001", "QBO_CLIENT_ID": "client-id-abc", "QBO_CLIENT_SECRET": "client-secret-xyz",
		"QBO_REFRESH_TOKEN": "refresh-token-123", "POSTGRES_USER": "etl_user", "POSTGRES_PASSWORD": "pg-password-456",
	}
	run := &config.Binder{Mode: config.BindRun, LookupEnv: noEnv, Secrets: &secret.Resolver{
		LookupEnv: func(name string) (string, bool) { v, ok := vals[name]; return v, ok }, SecretsDir: t.TempDir()}}
	bound, ds = run.Bind(p, params)
	if bound == nil {
		t.Fatalf("Bind (run): %v", ds)
	}
	if got := bound.Loader.Settings.Secret("client_secret").Reveal(); got != "client-secret-xyz" {
		t.Errorf("client_secret = %q", got)
	}
	if got := bound.Loader.Settings.String("realm_id"); got != "9130350000000001" {
		t.Errorf("realm_id = %#v, want the plain value", bound.Loader.Settings["realm_id"])
	}
	want := 0
	for _, bc := range []config.BoundComponent{bound.Loader, bound.Exporter} {
		for _, f := range bc.Reg.Spec.Fields {
			if f.Secret {
				want++
			}
		}
	}
	if len(bound.Secrets) != want || want < 3 {
		t.Errorf("%d secrets listed for redaction, want %d (every secret field, not the realm id)", len(bound.Secrets), want)
	}
	delete(vals, "POSTGRES_PASSWORD")
	_, ds = run.Bind(p, params)
	if len(ds) != 1 || !strings.Contains(ds[0].Message, "secret POSTGRES_PASSWORD: secret not set") {
		t.Errorf("missing secret: %v", ds)
	}
}

func TestPlanKey(t *testing.T) {
	p := loadShipped(t, "qb_items_backfill.yaml")
	key := func(params map[string]config.ParamValue) string {
		t.Helper()
		b := &config.Binder{Mode: config.BindCheck, LookupEnv: noEnv}
		bound, ds := b.Bind(p, params)
		if bound == nil {
			t.Fatalf("Bind: %v", ds)
		}
		return bound.PlanKey
	}
	base := key(cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z"))
	if len(base) != 16 {
		t.Errorf("plan key %q", base)
	}
	same := map[string]map[string]config.ParamValue{
		"params in another order":      cli("fecha_fin", "2025-01-01T00:00:00Z", "fecha_inicio", "2024-01-01T00:00:00Z"),
		"same instants, other offsets": cli("fecha_inicio", "2023-12-31T19:00:00-05:00", "fecha_fin", "2025-01-01T01:00:00+01:00"),
		"default given explicitly":     cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z", "page_size", "1000"),
		"from a trigger": {
			"fecha_inicio": {Value: "2024-01-01T00:00:00Z", File: "t.yaml", Line: 3, Col: 3},
			"fecha_fin":    {Value: "2025-01-01T00:00:00Z", File: "t.yaml", Line: 4, Col: 3},
			"page_size":    {Value: int64(1000), File: "t.yaml", Line: 5, Col: 3},
		},
	}
	for name, params := range same {
		for range 5 { // map order varies from run to run
			if got := key(params); got != base {
				t.Errorf("%s: plan key %s, want %s", name, got, base)
			}
		}
	}
	differ := map[string]map[string]config.ParamValue{
		"other start":     cli("fecha_inicio", "2024-01-02T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z"),
		"other end":       cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:01Z"),
		"other page size": cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z", "page_size", "999"),
	}
	seen := map[string]string{base: "base"}
	for name, params := range differ {
		got := key(params)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: plan key %s is the same as for %s", name, got, prev)
		}
		seen[got] = name
	}
	other := loadShipped(t, "qb_invoices_backfill.yaml")
	b := &config.Binder{Mode: config.BindCheck, LookupEnv: noEnv}
	bound, _ := b.Bind(other, cli("fecha_inicio", "2024-01-01T00:00:00Z", "fecha_fin", "2025-01-01T00:00:00Z"))
	if bound == nil || bound.PlanKey == base {
		t.Errorf("another pipeline with the same params has the same plan key")
	}
}
