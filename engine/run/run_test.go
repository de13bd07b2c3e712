package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/report"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/state"
)

type bundle struct {
	store    *memStore
	exporter *memExporter
	loader   *memLoader
	bound    *config.Bound
	evidence string
}

var rangeStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// setup builds a pipeline over 6 monthly windows of 2024 with n records
// spread over the range.
func setup(t *testing.T, n int) *bundle {
	t.Helper()
	b := &bundle{store: newMemStore(), evidence: t.TempDir()}
	b.exporter = &memExporter{store: b.store, rows: map[string]string{}}
	b.loader = &memLoader{pageSize: 7, calls: map[int]int{}, countDelta: map[int]int64{}}
	end := rangeStart.AddDate(0, 6, 0)
	span := end.Sub(rangeStart)
	for i := range n {
		at := rangeStart.Add(time.Duration(int64(span) / int64(n) * int64(i)))
		b.loader.records = append(b.loader.records, component.Record{ID: fmt.Sprint(i + 1), Version: "0", UpdatedAt: at, Payload: []byte(`{}`)})
	}
	policy := retry.DefaultPolicy()
	policy.InitialBackoff, policy.MaxBackoff = time.Millisecond, 5*time.Millisecond
	p := &config.Pipeline{
		Name:              "test_pipeline",
		Segmentation:      config.Segmentation{CursorField: "MetaData.LastUpdatedTime", Step: plan.Step{N: 1, Unit: plan.Month}, Location: time.UTC},
		Retry:             policy,
		WindowConcurrency: 2,
	}
	b.bound = &config.Bound{
		Pipeline: p, Start: rangeStart, End: end, PlanKey: "key1",
		Params:    map[string]any{},
		RawParams: map[string]string{"fecha_inicio": rangeStart.Format(time.RFC3339), "fecha_fin": end.Format(time.RFC3339)},
		Loader: config.BoundComponent{Use: "mem.loader", Reg: &component.Registration{NewLoader: func(context.Context, component.BuildContext, component.Settings) (component.Loader, error) {
			return b.loader, nil
		}}},
		Exporter: config.BoundComponent{Use: "mem.exporter", Reg: &component.Registration{NewExporter: func(context.Context, component.BuildContext, component.Settings) (component.Exporter, error) {
			return b.exporter, nil
		}}},
	}
	return b
}

func (b *bundle) config() Config {
	return Config{Bound: b.bound, EvidenceDir: b.evidence, WindowAttempts: 3}
}

func TestRunLoadsEveryWindowAndArchivesEvidence(t *testing.T) {
	b := setup(t, 500)
	res, err := Execute(t.Context(), b.config())
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Run.Status != state.RunCompleted {
		t.Fatalf("status = %s", res.Run.Status)
	}
	if got := len(b.exporter.rows); got != 500 {
		t.Fatalf("rows = %d, want 500", got)
	}
	if len(res.Windows) != 6 {
		t.Fatalf("windows = %d, want 6", len(res.Windows))
	}
	var sum int64
	for _, w := range res.Windows {
		if w.Status != state.WindowCompleted || w.Attempts != 1 {
			t.Errorf("window %d: status %s attempts %d", w.Index, w.Status, w.Attempts)
		}
		sum += w.SourceCount
	}
	if sum != 500 {
		t.Fatalf("sum of source counts = %d", sum)
	}
	if m := b.exporter.maxSeen.Load(); m > 2 {
		t.Fatalf("%d windows were in flight at once, concurrency is 2", m)
	}
	data, err := os.ReadFile(filepath.Join(res.ReportDir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Inserted != 500 || rep.Totals.Completed != 6 || rep.Status != "completed" {
		t.Fatalf("report totals = %+v, status %s", rep.Totals, rep.Status)
	}
	for _, name := range []string{"report.md", "report.html"} {
		if fi, err := os.Stat(filepath.Join(res.ReportDir, name)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestRunResumesOnlyUnfinishedWindows(t *testing.T) {
	b := setup(t, 300)
	b.loader.fail = func(w plan.Window, call int) error {
		if w.Index == 3 {
			return retry.Mark(retry.Permanent, errors.New("bad request"))
		}
		return nil
	}
	res, err := Execute(t.Context(), b.config())
	if err == nil || !strings.Contains(err.Error(), "window 3") {
		t.Fatalf("first run error = %v, want a failure naming window 3", err)
	}
	if res.Run.Status != state.RunFailed {
		t.Fatalf("status = %s", res.Run.Status)
	}
	firstRun := res.Run.RunID
	b.loader.fail = nil
	res, err = Execute(t.Context(), b.config())
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if res.Run.RunID != firstRun || !res.Run.Resumed {
		t.Fatalf("second run %s resumed=%v, want to resume %s", res.Run.RunID, res.Run.Resumed, firstRun)
	}
	for i := range 6 {
		want := 1
		if i == 3 {
			want = 2
		}
		if got := b.loader.callsFor(i); got != want {
			t.Errorf("window %d loaded %d times, want %d", i, got, want)
		}
	}
	if len(b.exporter.rows) != 300 {
		t.Fatalf("rows = %d", len(b.exporter.rows))
	}
}

func TestRunRetriesRetryableWindowFailures(t *testing.T) {
	b := setup(t, 100)
	b.loader.fail = func(w plan.Window, call int) error {
		if w.Index == 1 && call < 3 {
			return retry.Mark(retry.Network, errors.New("connection reset"))
		}
		return nil
	}
	res, err := Execute(t.Context(), b.config())
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got := b.loader.callsFor(1); got != 3 {
		t.Fatalf("window 1 loaded %d times, want 3", got)
	}
	if res.Windows[1].Attempts != 3 {
		t.Fatalf("window 1 attempts = %d, want 3", res.Windows[1].Attempts)
	}
}

func TestRunFailsWindowWhoseCountDiffers(t *testing.T) {
	b := setup(t, 120)
	b.loader.countDelta[2] = 5
	res, err := Execute(t.Context(), b.config())
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "window 2") || !strings.Contains(err.Error(), "difference -5") {
		t.Fatalf("error = %v, want window 2 and difference -5", err)
	}
	if res.Windows[2].Status != state.WindowFailed {
		t.Fatalf("window 2 status = %s", res.Windows[2].Status)
	}
	failed := res.Report.Failed()
	if len(failed) == 0 || !strings.Contains(failed[0], "5 of 6 windows completed") {
		t.Fatalf("failed checks = %v", failed)
	}
}

func TestRunStopsAtOnceWhenReauthorizationIsNeeded(t *testing.T) {
	b := setup(t, 100)
	b.bound.WindowConcurrency = 1
	b.loader.fail = func(w plan.Window, call int) error {
		if w.Index == 1 {
			return retry.Mark(retry.Reauthorize, errors.New("invalid_grant for realm 123"))
		}
		return nil
	}
	_, err := Execute(t.Context(), b.config())
	if retry.ClassOf(err) != retry.Reauthorize {
		t.Fatalf("error class = %s (%v)", retry.ClassOf(err), err)
	}
	for i := 2; i < 6; i++ {
		if n := b.loader.callsFor(i); n != 0 {
			t.Errorf("window %d was loaded after the credentials failed", i)
		}
	}
}

func TestRunInterruptedIsResumable(t *testing.T) {
	b := setup(t, 200)
	b.bound.WindowConcurrency = 1
	b.loader.block = make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for range 10 { // a few pages, then interrupt
			b.loader.block <- struct{}{}
		}
		cancel()
	}()
	res, err := Execute(ctx, b.config())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if res.Run.Status != state.RunInterrupted {
		t.Fatalf("status = %s", res.Run.Status)
	}
	b.loader.block = nil
	res, err = Execute(t.Context(), b.config())
	if err != nil || !res.Run.Resumed {
		t.Fatalf("resume: err %v resumed %v", err, res.Run.Resumed)
	}
	if len(b.exporter.rows) != 200 {
		t.Fatalf("rows = %d", len(b.exporter.rows))
	}
}

func TestRunRefusesWhenAlreadyRunning(t *testing.T) {
	b := setup(t, 10)
	if _, err := b.store.Acquire(t.Context(), "test_pipeline", "holder-run", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err := Execute(t.Context(), b.config())
	var are *state.AlreadyRunningError
	if !errors.As(err, &are) || are.HolderRunID != "holder-run" {
		t.Fatalf("error = %v, want AlreadyRunningError naming holder-run", err)
	}
}

func TestRunDropsExactRepeatsWithinAWindow(t *testing.T) {
	b := setup(t, 50)
	// Every record appears twice, as a second paging pass would deliver it.
	b.loader.records = append(b.loader.records, b.loader.records...)
	res, err := Execute(t.Context(), b.config())
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Report.Totals.DuplicatesDropped != 50 {
		t.Fatalf("duplicates dropped = %d, want 50", res.Report.Totals.DuplicatesDropped)
	}
	if res.Report.Totals.Inserted != 50 {
		t.Fatalf("inserted = %d, want 50", res.Report.Totals.Inserted)
	}
}
