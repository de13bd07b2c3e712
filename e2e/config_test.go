package e2e

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// TestHostileIdentifiersRefusedBeforeAnyIO gives etl run pipelines whose
// schema or table is an SQL injection, a 64-byte name (PostgreSQL would
// silently cut it to 63) or an upper-case name. Each exits 2 before any
// network or database call: the sandbox sees no request, a proxy in front
// of PostgreSQL sees no connection, no schema or table appears, and the
// table the injection names survives. etl lint reports each at the line of
// the offending value.
func TestHostileIdentifiersRefusedBeforeAnyIO(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{Seed: 91, Customers: 5, Items: 5})
	if _, err := e.db.Pool.Exec(e.ctx(), "CREATE TABLE public.x (id int)"); err != nil {
		t.Fatal(err)
	}
	proxy := newCountingProxy(t, fmt.Sprintf("%s:%d", e.db.Host(), e.db.Port()))
	e.vars["POSTGRES_HOST"], e.vars["POSTGRES_PORT"] = proxy.host, proxy.port

	long := strings.Repeat("t", 64)
	cases := []struct {
		name, old, new, msg string
	}{
		{"injection in schema", "schema: raw", `schema: 'raw"; DROP TABLE x;--'`, "quotes, semicolons or comment markers"},
		{"64-byte table name", "table: qb_items", "table: " + long, "64 bytes long"},
		{"upper-case schema", "schema: raw", "schema: Raw", "lower-case"},
	}
	for i, c := range cases {
		file := e.variant(itemsPipe, fmt.Sprintf("hostile_%d", i), c.old, c.new)
		line := lineOf(t, file, c.new)

		r := e.run(e.runArgs(file, rangeStart, rangeEnd)...)
		if r.code != 2 {
			t.Errorf("%s: etl run exit %d, want 2\n%s", c.name, r.code, tail(r.stderr, 10))
		}
		if !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%s: etl run's stderr does not say %q:\n%s", c.name, c.msg, tail(r.stderr, 10))
		}
		if !strings.Contains(r.stderr, fmt.Sprintf("%s:%d:", file, line)) {
			t.Errorf("%s: etl run's stderr does not point at %s:%d:\n%s", c.name, file, line, tail(r.stderr, 10))
		}

		l := e.run("lint", file)
		if l.code != 1 {
			t.Errorf("%s: etl lint exit %d, want 1\n%s", c.name, l.code, l.stdout)
		}
		if want := fmt.Sprintf("%s:%d:", file, line); !strings.Contains(l.stdout, want) || !strings.Contains(l.stdout, c.msg) {
			t.Errorf("%s: etl lint does not report %q at %s:\n%s", c.name, c.msg, want, l.stdout)
		}
	}

	if n := e.rec.counts().requests; n != 0 {
		t.Errorf("the sandbox received %d requests", n)
	}
	if n := proxy.count.Load(); n != 0 {
		t.Errorf("PostgreSQL received %d connections", n)
	}
	var objects []string
	rows, err := e.db.Pool.Query(e.ctx(), `
		SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, s)
	}
	if len(objects) != 1 || objects[0] != "public.x" {
		t.Errorf("relations in the database: %v, want only public.x", objects)
	}
	for _, s := range []string{"raw", "Raw", "etl", `raw"; DROP TABLE x;--`} {
		if e.schemaExists(s) {
			t.Errorf("schema %q was created", s)
		}
	}
}

// lineOf returns the 1-based line of file holding text.
func lineOf(t *testing.T, file, text string) int {
	t.Helper()
	b, err := readFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(b, "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", file, text)
	return 0
}

// countingProxy forwards TCP connections to a server and counts them.
type countingProxy struct {
	host, port string
	count      atomic.Int64
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	p.host, p.port, _ = net.SplitHostPort(ln.Addr().String())
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.count.Add(1)
			wg.Go(func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c); s.Close() }()
				_, _ = io.Copy(c, s)
			})
		}
	})
	return p
}
