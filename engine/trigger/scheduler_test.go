package trigger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/state"
)

func init() {
	component.Register(component.Registration{
		Spec: component.Spec{Name: "fake.loader", Kind: component.KindLoader},
		NewLoader: func(context.Context, component.BuildContext, component.Settings) (component.Loader, error) {
			return nil, errors.New("not used")
		},
	})
	component.Register(component.Registration{
		Spec: component.Spec{Name: "fake.exporter", Kind: component.KindExporter},
		NewExporter: func(context.Context, component.BuildContext, component.Settings) (component.Exporter, error) {
			return nil, errors.New("not used")
		},
	})
}

const testPipeline = `version: 1
name: fake_backfill
parameters:
  fecha_inicio: {type: timestamp, required: true}
  fecha_fin: {type: timestamp, required: true}
segmentation:
  cursor_field: MetaData.LastUpdatedTime
  start: ${params.fecha_inicio}
  end: ${params.fecha_fin}
  step: 1mo
loader: {use: fake.loader}
exporter: {use: fake.exporter}
`

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeDB plays the database: it records completions of one-time triggers
// when a run succeeds, as FinishRun does in the same transaction.
type fakeDB struct {
	mu          sync.Mutex
	completions map[string]string
	fires       []string // trigger names, in order
	fireTimes   []time.Time
	results     []error // consumed in order; nil when exhausted
	clock       *fakeClock
	busy        bool
}

func (d *fakeDB) Fire(_ context.Context, t *config.Trigger) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busy {
		return "", fmt.Errorf("run refused: %w", &state.AlreadyRunningError{Pipeline: "fake_backfill", HolderRunID: "other"})
	}
	if t.Type == config.TriggerOnce {
		if _, done := d.completions[t.Name]; done {
			return "", state.ErrTriggerCompleted
		}
	}
	d.fires = append(d.fires, t.Name)
	d.fireTimes = append(d.fireTimes, d.clock.Now())
	runID := fmt.Sprintf("run-%d", len(d.fires))
	var err error
	if len(d.results) > 0 {
		err, d.results = d.results[0], d.results[1:]
	}
	if err == nil && t.Type == config.TriggerOnce {
		d.completions[t.Name] = runID
	}
	return runID, err
}

func (d *fakeDB) Completion(_ context.Context, name string) (string, time.Time, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.completions[name]
	return id, time.Time{}, ok, nil
}

func (d *fakeDB) fireCount() int { d.mu.Lock(); defer d.mu.Unlock(); return len(d.fires) }

type schedBundle struct {
	dir   string
	clock *fakeClock
	db    *fakeDB
	s     *Scheduler
}

func newSched(t *testing.T, start time.Time) *schedBundle {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "pipelines"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "triggers"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "pipelines", "fake_backfill.yaml"), []byte(testPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: start}
	db := &fakeDB{completions: map[string]string{}, clock: clock}
	b := &schedBundle{dir: filepath.Join(root, "triggers"), clock: clock, db: db}
	b.s = &Scheduler{Dir: b.dir, Runner: db, Completions: db, Clock: clock, BusyRetry: time.Minute}
	return b
}

func (b *schedBundle) write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(b.dir, name+".yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *schedBundle) tick() {
	b.s.Tick(context.Background())
	b.s.Wait()
}

func onceTrigger(name, runAt, extra string) string {
	return fmt.Sprintf(`# a comment that must survive
version: 1
name: %s
type: once
pipeline: ../pipelines/fake_backfill.yaml
run_at: %s
params:
  fecha_inicio: 2024-01-01T00:00:00Z
  fecha_fin: 2024-03-01T00:00:00Z
%sstatus: active
`, name, runAt, extra)
}

func readTrigger(t *testing.T, p string) *config.Trigger {
	t.Helper()
	tr, ds := config.LoadTrigger(p)
	if ds.HasErrors() {
		t.Fatalf("%s: %v", p, ds.Err())
	}
	return tr
}

func TestOnceFiresExactlyOnceAtRunAt(t *testing.T) {
	runAt := time.Date(2026, 12, 4, 23, 59, 0, 0, time.UTC)
	b := newSched(t, runAt.Add(-10*time.Minute))
	p := b.write(t, "t1", onceTrigger("t1", "2026-12-04T23:59:00Z", ""))
	for b.clock.Now().Before(runAt) {
		b.tick()
		if n := b.db.fireCount(); n != 0 {
			t.Fatalf("fired at %s, before run_at", b.clock.Now())
		}
		b.clock.Add(30 * time.Second)
	}
	b.clock.Set(runAt)
	b.tick()
	for range 5 {
		b.clock.Add(time.Minute)
		b.tick()
	}
	if n := b.db.fireCount(); n != 1 || !b.db.fireTimes[0].Equal(runAt) {
		t.Fatalf("fired %d times (at %v), want once at %s", n, b.db.fireTimes, runAt)
	}
	tr := readTrigger(t, p)
	if tr.Status != config.StatusCompleted || tr.RunID != "run-1" || !tr.CompletedAt.Equal(runAt) {
		t.Fatalf("file: status %s run_id %s completed_at %s", tr.Status, tr.RunID, tr.CompletedAt)
	}
	src, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(src), "# a comment that must survive\n") {
		t.Fatalf("comment lost:\n%s", src)
	}
	// A new scheduler (a restart) does not fire it either.
	b2 := &Scheduler{Dir: b.dir, Runner: b.db, Completions: b.db, Clock: b.clock}
	b2.Tick(context.Background())
	b2.Wait()
	if n := b.db.fireCount(); n != 1 {
		t.Fatalf("fired again after restart: %d", n)
	}
}

func TestOnceMissedWhileDownFollowsCatchup(t *testing.T) {
	b := newSched(t, time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC))
	run := b.write(t, "missed_run", onceTrigger("missed_run", "2026-12-04T23:59:00Z", "catchup: run\n"))
	skip := b.write(t, "missed_skip", onceTrigger("missed_skip", "2026-12-04T23:59:00Z", "catchup: skip\n"))
	b.tick()
	b.tick()
	if b.db.fireCount() != 1 || b.db.fires[0] != "missed_run" {
		t.Fatalf("fires = %v, want only missed_run", b.db.fires)
	}
	if tr := readTrigger(t, run); tr.Status != config.StatusCompleted {
		t.Fatalf("missed_run status = %s", tr.Status)
	}
	tr := readTrigger(t, skip)
	if tr.Status != config.StatusDisabled || !strings.Contains(tr.LastError, "catchup: skip") {
		t.Fatalf("missed_skip status = %s, last_error %q", tr.Status, tr.LastError)
	}
}

func TestCompletionInDatabaseFinishesTheFlipWithoutRunning(t *testing.T) {
	b := newSched(t, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	p := b.write(t, "t1", onceTrigger("t1", "2026-12-04T23:59:00Z", ""))
	// The run committed (and recorded the completion), then the process
	// died before rewriting the file.
	b.db.completions["t1"] = "run-from-before-the-crash"
	b.tick()
	if n := b.db.fireCount(); n != 0 {
		t.Fatalf("the back-fill ran again (%d fires)", n)
	}
	tr := readTrigger(t, p)
	if tr.Status != config.StatusCompleted || tr.RunID != "run-from-before-the-crash" {
		t.Fatalf("file: status %s run_id %q", tr.Status, tr.RunID)
	}
}

func TestFailedRunKeepsTriggerActiveAndRetries(t *testing.T) {
	start := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	b := newSched(t, start)
	p := b.write(t, "t1", onceTrigger("t1", "2026-12-04T23:59:00Z", "retry:\n  max_attempts: 2\n  backoff: 10m\n"))
	b.db.results = []error{errors.New("window 3: HTTP 503\nmore detail"), errors.New("still failing")}
	b.tick()
	tr := readTrigger(t, p)
	if tr.Status != config.StatusActive || tr.LastError != "window 3: HTTP 503" {
		t.Fatalf("after failure: status %s last_error %q", tr.Status, tr.LastError)
	}
	b.clock.Add(5 * time.Minute)
	b.tick()
	if n := b.db.fireCount(); n != 1 {
		t.Fatalf("retried before the backoff: %d fires", n)
	}
	b.clock.Add(6 * time.Minute)
	b.tick()
	if n := b.db.fireCount(); n != 2 {
		t.Fatalf("fires = %d, want 2 after the backoff", n)
	}
	b.clock.Add(time.Hour)
	b.tick()
	if n := b.db.fireCount(); n != 2 {
		t.Fatalf("fired after max_attempts: %d", n)
	}
	if tr := readTrigger(t, p); tr.Status != config.StatusActive || tr.LastError != "still failing" {
		t.Fatalf("status %s last_error %q", tr.Status, tr.LastError)
	}
}

func TestBusyPipelineIsNotAFailure(t *testing.T) {
	b := newSched(t, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	p := b.write(t, "t1", onceTrigger("t1", "2026-12-04T23:59:00Z", ""))
	b.db.busy = true
	b.tick()
	if tr := readTrigger(t, p); tr.LastError != "" || tr.Status != config.StatusActive {
		t.Fatalf("busy pipeline recorded as failure: %q", tr.LastError)
	}
	b.db.busy = false
	b.clock.Add(30 * time.Second)
	b.tick()
	if b.db.fireCount() != 0 {
		t.Fatal("looked again before BusyRetry")
	}
	b.clock.Add(31 * time.Second)
	b.tick()
	if b.db.fireCount() != 1 || readTrigger(t, p).Status != config.StatusCompleted {
		t.Fatalf("fires = %d", b.db.fireCount())
	}
}

func TestDisabledAndCompletedNeverFire(t *testing.T) {
	b := newSched(t, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	b.write(t, "d", strings.Replace(onceTrigger("d", "2026-12-04T23:59:00Z", ""), "status: active", "status: disabled", 1))
	b.write(t, "c", strings.Replace(onceTrigger("c", "2026-12-04T23:59:00Z", ""), "status: active", "status: completed", 1))
	for range 3 {
		b.tick()
		b.clock.Add(time.Hour)
	}
	if n := b.db.fireCount(); n != 0 {
		t.Fatalf("fired %d times", n)
	}
}

func TestNewAndEditedFilesAreNoticed(t *testing.T) {
	b := newSched(t, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	b.tick()
	p := b.write(t, "late", strings.Replace(onceTrigger("late", "2026-12-04T23:59:00Z", ""), "status: active", "status: disabled", 1))
	b.tick()
	if b.db.fireCount() != 0 {
		t.Fatal("fired a disabled trigger")
	}
	src, _ := os.ReadFile(p)
	edited := strings.Replace(string(src), "status: disabled", "status: active", 1)
	if err := os.WriteFile(p, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	// Make sure the modification time moves even on coarse clocks.
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(p, later, later)
	b.tick()
	if b.db.fireCount() != 1 {
		t.Fatalf("edited trigger did not fire: %d", b.db.fireCount())
	}
}

func TestCronFiresAtLocalTimesAcrossDST(t *testing.T) {
	b := newSched(t, time.Date(2024, 3, 8, 0, 0, 0, 0, time.UTC))
	b.write(t, "daily", `version: 1
name: daily
type: cron
pipeline: ../pipelines/fake_backfill.yaml
schedule: "0 9 * * *"
timezone: America/New_York
params:
  fecha_inicio: 2024-01-01T00:00:00Z
  fecha_fin: 2024-03-01T00:00:00Z
status: active
`)
	for b.clock.Now().Before(time.Date(2024, 3, 12, 0, 0, 0, 0, time.UTC)) {
		b.tick()
		b.clock.Add(time.Minute)
	}
	want := []time.Time{
		time.Date(2024, 3, 8, 14, 0, 0, 0, time.UTC),  // 09:00 EST
		time.Date(2024, 3, 9, 14, 0, 0, 0, time.UTC),  // 09:00 EST
		time.Date(2024, 3, 10, 13, 0, 0, 0, time.UTC), // 09:00 EDT, the day clocks moved
		time.Date(2024, 3, 11, 13, 0, 0, 0, time.UTC), // 09:00 EDT
	}
	if len(b.db.fireTimes) != len(want) {
		t.Fatalf("fired at %v, want %v", b.db.fireTimes, want)
	}
	for i := range want {
		if !b.db.fireTimes[i].Equal(want[i]) {
			t.Fatalf("fire %d at %s, want %s", i, b.db.fireTimes[i], want[i])
		}
	}
}

func TestLocalTime(t *testing.T) {
	if got := LocalTime(time.Date(2026, 12, 4, 23, 59, 0, 0, time.UTC)); got != "2026-12-04 18:59 -05:00" {
		t.Fatalf("LocalTime = %q", got)
	}
}

// blockingRunner holds each run until release is closed.
type blockingRunner struct {
	mu      sync.Mutex
	fires   []time.Time
	clock   *fakeClock
	release chan struct{}
}

func (r *blockingRunner) Fire(ctx context.Context, _ *config.Trigger) (string, error) {
	r.mu.Lock()
	r.fires = append(r.fires, r.clock.Now())
	ch := r.release
	r.mu.Unlock()
	<-ch
	return "run", nil
}

func (r *blockingRunner) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.fires) }

func TestCronSkipIfRunning(t *testing.T) {
	for _, skip := range []bool{true, false} {
		t.Run(fmt.Sprintf("skip_if_running=%v", skip), func(t *testing.T) {
			b := newSched(t, time.Date(2024, 5, 1, 10, 0, 30, 0, time.UTC))
			r := &blockingRunner{clock: b.clock, release: make(chan struct{})}
			b.s.Runner = r
			b.write(t, "every_minute", fmt.Sprintf(`version: 1
name: every_minute
type: cron
pipeline: ../pipelines/fake_backfill.yaml
schedule: "* * * * *"
skip_if_running: %v
params:
  fecha_inicio: 2024-01-01T00:00:00Z
  fecha_fin: 2024-03-01T00:00:00Z
status: active
`, skip))
			b.s.Tick(t.Context()) // waiting for 10:01
			b.clock.Set(time.Date(2024, 5, 1, 10, 1, 0, 0, time.UTC))
			b.s.Tick(t.Context()) // fires; the run blocks
			waitUntil(t, func() bool { return r.count() == 1 })
			for m := 2; m <= 4; m++ { // 10:02, 10:03, 10:04 come due during the run
				b.clock.Set(time.Date(2024, 5, 1, 10, m, 0, 0, time.UTC))
				b.s.Tick(t.Context())
			}
			b.clock.Set(time.Date(2024, 5, 1, 10, 4, 20, 0, time.UTC))
			r.mu.Lock()
			close(r.release)
			r.release = make(chan struct{})
			close(r.release) // later runs return at once
			r.mu.Unlock()
			b.s.Wait()
			b.s.Tick(t.Context())
			b.s.Wait()
			want := 1 // skipped firings are dropped; the next is at 10:05
			if !skip {
				want = 2 // the missed firings collapse into one, right after the run
			}
			if got := r.count(); got != want {
				t.Fatalf("fires = %d (%v), want %d", got, r.fires, want)
			}
		})
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(time.Millisecond)
	}
}
