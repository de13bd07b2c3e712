package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStateCommands runs the README's commands in the order a user would:
// plan, migrate (twice), run, status, status --run, report in each format,
// against a throwaway database and the sandbox.
func TestStateCommands(t *testing.T) {
	e := newDoctorEnv(t)
	pipeline := filepath.Join("..", "..", "pipelines", "qb_items_backfill.yaml")
	params := []string{"--param", "fecha_inicio=2019-01-01T00:00:00Z", "--param", "fecha_fin=2026-01-01T00:00:00Z"}

	r := runDoctor(t, e.env, "", append([]string{"plan", pipeline}, params...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "7 windows of 1y") || !strings.Contains(r.stdout, "2018-12-31 19:00 -05:00") {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i, want := range []string{"up to date", "up to date"} {
		r = runDoctor(t, e.env, "", "migrate")
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("migrate #%d: exit %d\n%s%s", i+1, r.code, r.stdout, r.stderr)
		}
	}
	r = runDoctor(t, e.env, "", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "no runs yet") {
		t.Fatalf("status before any run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	evidence := t.TempDir()
	r = runDoctor(t, e.env, "", append([]string{"run", pipeline, "--progress", "none", "--requests-per-minute", "100000", "--evidence-dir", evidence}, params...)...)
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	runID := regexp.MustCompile(`run (\S+) completed: 7 of 7 windows`).FindStringSubmatch(r.stdout)
	if runID == nil {
		t.Fatalf("run summary:\n%s", r.stdout)
	}
	r = runDoctor(t, e.env, "", "status", "qb_items_backfill")
	if r.code != 0 || !strings.Contains(r.stdout, runID[1]) || !strings.Contains(r.stdout, "completed") || !strings.Contains(r.stdout, "7/7") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runDoctor(t, e.env, "", "status", "--run", runID[1])
	if r.code != 0 || strings.Count(r.stdout, "completed") < 7 {
		t.Fatalf("status --run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runDoctor(t, e.env, "", "report", runID[1])
	if r.code != 0 || !strings.Contains(r.stdout, "# Run "+runID[1]+": completed") || !strings.Contains(r.stdout, "| all windows completed | pass |") {
		t.Fatalf("report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runDoctor(t, e.env, "", "report", runID[1], "--format", "json")
	var rep struct {
		RunID  string `json:"run_id"`
		Totals struct {
			Windows, Completed int
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.RunID != runID[1] || rep.Totals.Completed != 7 {
		t.Fatalf("report --format json: %v\n%s", err, r.stdout)
	}
	r = runDoctor(t, e.env, "", "report", runID[1], "--format", "html")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "<!doctype html>") {
		t.Fatalf("report --format html: exit %d", r.code)
	}
	r = runDoctor(t, e.env, "", "report", "no-such-run")
	if r.code != exitConfig || !strings.Contains(r.err.Error(), "no run no-such-run") {
		t.Fatalf("report of a missing run: exit %d, %v", r.code, r.err)
	}
	out := filepath.Join(t.TempDir(), "rebuilt")
	r = runDoctor(t, e.env, "", "report", runID[1], "--out", out)
	if r.code != 0 || !strings.Contains(r.stdout, "report.html") {
		t.Fatalf("report --out: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r.assertNoSecrets(t, e.secrets()...)
}
