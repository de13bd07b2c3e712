package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/state"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func window(i int, status state.WindowStatus, source, distinct int64) state.WindowState {
	return state.WindowState{
		Window: plan.Window{Index: i, Start: t0.AddDate(0, i, 0), End: t0.AddDate(0, i+1, 0)},
		Status: status, SourceCount: source, Distinct: distinct, Fetched: distinct, Inserted: distinct, Pages: 1,
		Duration: 1500 * time.Millisecond,
	}
}

func input(ws ...state.WindowState) Input {
	return Input{
		Run:      state.Run{RunRef: state.RunRef{RunID: "run-1"}, Status: state.RunCompleted, StartedAt: t0},
		Pipeline: "p", Params: map[string]string{"fecha_inicio": "2024-01-01T00:00:00Z"},
		StartUTC: t0, EndUTC: t0.AddDate(0, len(ws), 0), Step: "1mo",
		Source:  component.Source{System: "qbo", Entity: "Invoice", Realm: "123", Env: "sandbox"},
		Windows: ws,
		Table:   &component.TableStats{Table: "raw.qb_invoices", Rows: 30, DistinctIDs: 30, MinUpdated: t0, MaxUpdated: t0.Add(time.Hour)},
		Now:     t0.Add(time.Hour),
	}
}

func TestBuildChecks(t *testing.T) {
	tests := []struct {
		name   string
		in     Input
		failed []string // substrings of the failed checks, in order
	}{
		{name: "all good", in: input(window(0, state.WindowCompleted, 10, 10), window(1, state.WindowCompleted, 20, 20))},
		{
			name:   "a window not completed",
			in:     input(window(0, state.WindowCompleted, 10, 10), window(1, state.WindowFailed, 0, 0)),
			failed: []string{"1 of 2 windows completed"},
		},
		{
			name:   "a count mismatch names the window and the difference",
			in:     input(window(0, state.WindowCompleted, 10, 10), window(1, state.WindowCompleted, 20, 17)),
			failed: []string{"window 1 2024-02-01T00:00:00Z..2024-03-01T00:00:00Z: loaded 17, source count 20 (difference -3)"},
		},
		{
			name: "duplicate ids and invalid payloads",
			in: func() Input {
				in := input(window(0, state.WindowCompleted, 10, 10))
				in.Table.Rows, in.Table.InvalidPayloads = 31, 2
				return in
			}(),
			failed: []string{"31 rows and 30 distinct ids", "2 rows of raw.qb_invoices"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(tt.in)
			failed := r.Failed()
			if len(failed) != len(tt.failed) {
				t.Fatalf("failed checks = %q, want %d", failed, len(tt.failed))
			}
			for i, want := range tt.failed {
				if !strings.Contains(failed[i], want) {
					t.Errorf("check %d = %q, want it to contain %q", i, failed[i], want)
				}
			}
		})
	}
}

func TestTotals(t *testing.T) {
	r := Build(input(window(0, state.WindowCompleted, 10, 10), window(1, state.WindowCompleted, 20, 20)))
	if r.Totals.SourceCount != 30 || r.Totals.Inserted != 30 || r.Totals.Pages != 2 || r.Totals.DurationMS != 3000 || r.Totals.Completed != 2 {
		t.Fatalf("totals = %+v", r.Totals)
	}
}

func TestWriteArchivesThreeSelfContainedFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "evidence", "p", "run-1")
	in := input(window(0, state.WindowCompleted, 10, 10), window(1, state.WindowCompleted, 20, 20))
	in.Run.Error = "boom with secret-value-123456"
	r := Build(in)
	if err := r.Write(dir, func(s string) string { return strings.ReplaceAll(s, "secret-value-123456", "[REDACTED]") }); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.json", "report.md", "report.html"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "secret-value-123456") {
			t.Fatalf("%s holds the secret", name)
		}
	}
	var back Report
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.Totals.SourceCount != 30 || len(back.Windows) != 2 {
		t.Fatalf("report.json: %v %+v", err, back.Totals)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	for _, bad := range []string{"<script", "http://", "https://", "<link"} {
		if strings.Contains(string(html), bad) {
			t.Fatalf("report.html is not self-contained: has %q", bad)
		}
	}
	if strings.Count(string(html), "<rect class=\"bar") != 2 {
		t.Fatal("the chart does not have one bar per window")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("%d files in the evidence folder (temporary files left?)", len(entries))
	}
}
