// Package report builds a run's volumetry and validation report and
// archives it as evidence: report.json (for machines), report.md (for
// reviews) and a self-contained report.html with a chart of records per
// window.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/state"
)

// Report is a run's evidence.
type Report struct {
	RunID       string            `json:"run_id"`
	Pipeline    string            `json:"pipeline"`
	Status      string            `json:"status"`
	Error       string            `json:"error,omitempty"`
	Trigger     string            `json:"trigger,omitempty"`
	Resumed     bool              `json:"resumed"`
	Params      map[string]string `json:"params"`
	StartUTC    time.Time         `json:"range_start_utc"`
	EndUTC      time.Time         `json:"range_end_utc"`
	Step        string            `json:"step"`
	Source      Source            `json:"source"`
	StartedAt   time.Time         `json:"started_at"`
	GeneratedAt time.Time         `json:"generated_at"`
	Windows     []Window          `json:"windows"`
	Totals      Totals            `json:"totals"`
	Table       *Table            `json:"table,omitempty"`
	Checks      []Check           `json:"checks"`
}

// Source describes where the records came from. The realm is included: it
// identifies the company and is stored with every row.
type Source struct {
	System string `json:"system"`
	Entity string `json:"entity"`
	Realm  string `json:"realm"`
	Env    string `json:"env"`
}

// Window is one window's volumetry.
type Window struct {
	Index             int       `json:"index"`
	StartUTC          time.Time `json:"start_utc"`
	EndUTC            time.Time `json:"end_utc"`
	Status            string    `json:"status"`
	Attempts          int       `json:"attempts"`
	SourceCount       int64     `json:"source_count"`
	Pages             int       `json:"pages"`
	Fetched           int64     `json:"fetched"`
	Distinct          int64     `json:"distinct"`
	Inserted          int64     `json:"inserted"`
	Updated           int64     `json:"updated"`
	Unchanged         int64     `json:"unchanged"`
	Stale             int64     `json:"stale"`
	DuplicatesDropped int64     `json:"duplicates_dropped"`
	Retries           int       `json:"retries"`
	Throttled         int       `json:"throttled_429"`
	MovedOut          int64     `json:"moved_out"`
	DurationMS        int64     `json:"duration_ms"`
	Error             string    `json:"error,omitempty"`
}

// Totals sums the windows.
type Totals struct {
	Windows           int   `json:"windows"`
	Completed         int   `json:"completed"`
	SourceCount       int64 `json:"source_count"`
	Pages             int   `json:"pages"`
	Fetched           int64 `json:"fetched"`
	Inserted          int64 `json:"inserted"`
	Updated           int64 `json:"updated"`
	Unchanged         int64 `json:"unchanged"`
	Stale             int64 `json:"stale"`
	DuplicatesDropped int64 `json:"duplicates_dropped"`
	Retries           int   `json:"retries"`
	Throttled         int   `json:"throttled_429"`
	DurationMS        int64 `json:"duration_ms"`
}

// Table describes the destination table after the run.
type Table struct {
	Name            string     `json:"name"`
	Rows            int64      `json:"rows"`
	DistinctIDs     int64      `json:"distinct_ids"`
	MinUpdatedUTC   *time.Time `json:"min_last_updated_utc"`
	MaxUpdatedUTC   *time.Time `json:"max_last_updated_utc"`
	InvalidPayloads int64      `json:"invalid_payloads"`
}

// Check is one validation.
type Check struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Input is what Build needs.
type Input struct {
	Run      state.Run
	Pipeline string
	Params   map[string]string
	StartUTC time.Time
	EndUTC   time.Time
	Step     string
	Source   component.Source
	Windows  []state.WindowState
	// Table is nil when the exporter cannot describe its table.
	Table *component.TableStats
	Now   time.Time
}

// Build computes the report and its checks. Checks are run only over
// completed windows; a run with pending or failed windows fails the
// "all windows completed" check.
func Build(in Input) *Report {
	r := &Report{
		RunID: in.Run.RunID, Pipeline: in.Pipeline, Status: string(in.Run.Status), Error: in.Run.Error,
		Trigger: in.Run.Trigger, Resumed: in.Run.Resumed, Params: in.Params,
		StartUTC: in.StartUTC.UTC(), EndUTC: in.EndUTC.UTC(), Step: in.Step,
		Source:    Source{System: in.Source.System, Entity: in.Source.Entity, Realm: in.Source.Realm, Env: in.Source.Env},
		StartedAt: in.Run.StartedAt.UTC(), GeneratedAt: in.Now.UTC(),
		Windows: make([]Window, 0, len(in.Windows)),
	}
	t := &r.Totals
	var mismatched []string
	for _, ws := range in.Windows {
		w := Window{
			Index: ws.Index, StartUTC: ws.Start.UTC(), EndUTC: ws.End.UTC(), Status: string(ws.Status), Attempts: ws.Attempts,
			SourceCount: ws.SourceCount, Pages: ws.Pages, Fetched: ws.Fetched, Distinct: ws.Distinct,
			Inserted: ws.Inserted, Updated: ws.Updated, Unchanged: ws.Unchanged, Stale: ws.Stale,
			DuplicatesDropped: ws.Duplicates, Retries: ws.Retries, Throttled: ws.Throttled, MovedOut: ws.MovedOut,
			DurationMS: ws.Duration.Milliseconds(), Error: ws.Error,
		}
		r.Windows = append(r.Windows, w)
		t.Windows++
		if ws.Status == state.WindowCompleted {
			t.Completed++
			if ws.Distinct != ws.SourceCount {
				mismatched = append(mismatched, fmt.Sprintf("window %d %s..%s: loaded %d, source count %d (difference %+d)",
					ws.Index, w.StartUTC.Format(time.RFC3339), w.EndUTC.Format(time.RFC3339), ws.Distinct, ws.SourceCount, ws.Distinct-ws.SourceCount))
			}
		}
		t.SourceCount += ws.SourceCount
		t.Pages += ws.Pages
		t.Fetched += ws.Fetched
		t.Inserted += ws.Inserted
		t.Updated += ws.Updated
		t.Unchanged += ws.Unchanged
		t.Stale += ws.Stale
		t.DuplicatesDropped += ws.Duplicates
		t.Retries += ws.Retries
		t.Throttled += ws.Throttled
		t.DurationMS += ws.Duration.Milliseconds()
	}
	r.Checks = append(r.Checks, Check{
		Name:   "all windows completed",
		Passed: t.Completed == t.Windows,
		Detail: fmt.Sprintf("%d of %d windows completed", t.Completed, t.Windows),
	})
	c := Check{Name: "loaded = source count, per window", Passed: len(mismatched) == 0,
		Detail: fmt.Sprintf("%d completed windows, %d records, every window matches its source COUNT(*)", t.Completed, t.SourceCount)}
	if len(mismatched) > 0 {
		c.Detail = fmt.Sprintf("%d windows differ: %s", len(mismatched), joinMax(mismatched, 5))
	}
	r.Checks = append(r.Checks, c)
	if in.Table != nil {
		tb := &Table{Name: in.Table.Table, Rows: in.Table.Rows, DistinctIDs: in.Table.DistinctIDs, InvalidPayloads: in.Table.InvalidPayloads}
		if !in.Table.MinUpdated.IsZero() {
			mn, mx := in.Table.MinUpdated.UTC(), in.Table.MaxUpdated.UTC()
			tb.MinUpdatedUTC, tb.MaxUpdatedUTC = &mn, &mx
		}
		r.Table = tb
		r.Checks = append(r.Checks,
			Check{Name: "no duplicate ids", Passed: tb.Rows == tb.DistinctIDs,
				Detail: fmt.Sprintf("%s holds %d rows and %d distinct ids", tb.Name, tb.Rows, tb.DistinctIDs)},
			Check{Name: "every payload is a JSON object", Passed: tb.InvalidPayloads == 0,
				Detail: fmt.Sprintf("%d rows of %s have a payload that is not a JSON object", tb.InvalidPayloads, tb.Name)},
		)
	}
	return r
}

// Failed returns the details of the failed checks.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return out
}

func joinMax(items []string, n int) string {
	out := ""
	for i, s := range items {
		if i == n {
			return out + fmt.Sprintf("; and %d more", len(items)-n)
		}
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

// JSON renders the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding report.json: %w", err)
	}
	return append(b, '\n'), nil
}

// Write archives the report as report.json, report.md and report.html in
// dir (created with mode 0750). Each file is written to a temporary name
// and renamed, so a reader never sees half a report. scrub, when not nil,
// is applied to each file's text as a last guard against leaked secrets.
func (r *Report) Write(dir string, scrub func(string) string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	md, err := r.Markdown()
	if err != nil {
		return err
	}
	html, err := r.HTML()
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"report.json": js, "report.md": md, "report.html": html} {
		if scrub != nil {
			data = []byte(scrub(string(data)))
		}
		if err := writeAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
