package trigger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/state"
)

// Runner runs the pipeline of a trigger with the trigger's parameters.
type Runner interface {
	// Fire runs t's pipeline now and returns the run id. It returns an
	// error wrapping state.ErrAlreadyRunning when another run holds the
	// pipeline, and state.ErrTriggerCompleted when the database already
	// records t as completed.
	Fire(ctx context.Context, t *config.Trigger) (runID string, err error)
}

// Completions tells which one-time triggers the database records as
// completed. The record is written in the same transaction as the end of
// the run, so it is the truth when the file and the database disagree.
type Completions interface {
	Completion(ctx context.Context, trigger string) (runID string, at time.Time, ok bool, err error)
}

// Clock is the scheduler's time source.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Scheduler fires the triggers of a folder.
type Scheduler struct {
	// Dir is the folder of trigger files (*.yaml, *.yml).
	Dir         string
	Runner      Runner
	Completions Completions
	Log         *slog.Logger
	// Clock defaults to the real clock.
	Clock Clock
	// Poll is how often files are rescanned and triggers evaluated.
	// Defaults to 5s.
	Poll time.Duration
	// BusyRetry is how long to wait before looking again at a trigger
	// whose pipeline another run holds. Defaults to 30s.
	BusyRetry time.Duration
	// AfterRun, when set, is called after a run returned and before its
	// outcome is written to the trigger file. Crash tests use it to kill the
	// process at exactly that point.
	AfterRun func(t *config.Trigger, runID string, err error)

	once    sync.Once
	mu      sync.Mutex
	started time.Time
	entries map[string]*entry
	wg      sync.WaitGroup
}

// entry is the scheduler's view of one trigger file.
type entry struct {
	path    string
	modTime time.Time
	size    int64
	hash    [32]byte
	trig    *config.Trigger
	invalid string // why the file cannot be used, if it cannot

	running   bool
	attempts  int
	nextTry   time.Time
	lastFire  time.Time // cron: the last scheduled instant handled
	gaveUp    bool
	announced string // last decision logged, to log each change once
}

func (s *Scheduler) init() {
	s.once.Do(func() {
		if s.Clock == nil {
			s.Clock = realClock{}
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		if s.Poll <= 0 {
			s.Poll = 5 * time.Second
		}
		if s.BusyRetry <= 0 {
			s.BusyRetry = 30 * time.Second
		}
		s.started = s.Clock.Now()
		s.entries = map[string]*entry{}
	})
}

// Serve evaluates triggers every Poll until ctx ends, then waits for the
// runs it started to finish (they see ctx's cancellation and stop at a
// safe point).
func (s *Scheduler) Serve(ctx context.Context) error {
	s.init()
	s.Log.Info("scheduler started", "dir", s.Dir, "poll", s.Poll.String())
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			s.Log.Info("scheduler stopping; waiting for running triggers")
			s.Wait()
			s.Log.Info("scheduler stopped")
			return nil
		case <-t.C:
		}
	}
}

// Wait blocks until every run started by the scheduler has returned.
func (s *Scheduler) Wait() { s.wg.Wait() }

// Tick rescans the folder and fires every trigger that is due.
func (s *Scheduler) Tick(ctx context.Context) {
	s.init()
	s.scan()
	s.mu.Lock()
	paths := make([]string, 0, len(s.entries))
	for p := range s.entries {
		paths = append(paths, p)
	}
	s.mu.Unlock()
	slices.Sort(paths)
	for _, p := range paths {
		s.evaluate(ctx, p)
	}
}

// scan reloads files that are new or changed and forgets removed ones.
func (s *Scheduler) scan() {
	seen := map[string]bool{}
	_ = filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			s.Log.Error("reading the trigger folder", "path", path, "error", err)
			return nil
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		seen[path] = true
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		s.mu.Lock()
		e, ok := s.entries[path]
		s.mu.Unlock()
		if ok && e.modTime.Equal(fi.ModTime()) && e.size == fi.Size() {
			return nil
		}
		s.load(path, fi, e)
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, e := range s.entries {
		if !seen[p] && !e.running {
			s.Log.Info("trigger file removed", "file", p)
			delete(s.entries, p)
		}
	}
}

func (s *Scheduler) load(path string, fi fs.FileInfo, old *entry) {
	src, err := os.ReadFile(path)
	if err != nil {
		s.Log.Error("reading trigger", "file", path, "error", err)
		return
	}
	sum := sha256.Sum256(src)
	t, ds := config.ParseTrigger(path, src)
	if t != nil && !ds.HasErrors() && t.Status == config.StatusActive {
		_, cds := config.CheckTrigger(t, nil)
		ds = append(ds, cds...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := old
	if e == nil {
		e = &entry{path: path}
		s.entries[path] = e
		s.Log.Info("trigger loaded", "file", path)
	} else {
		// Our own rewrites (status, last_error) and mere touches keep the
		// attempt history; an edit by a person starts afresh. The entry is
		// updated in place: a run in flight holds a pointer to it.
		if e.hash != sum && (e.trig == nil || !sameSchedule(e, src)) {
			e.attempts, e.nextTry, e.gaveUp = 0, time.Time{}, false
		}
		s.Log.Info("trigger file changed; reloaded", "file", path)
	}
	e.modTime, e.size, e.hash = fi.ModTime(), fi.Size(), sum
	e.trig, e.invalid = nil, ""
	if ds.HasErrors() || t == nil {
		e.invalid = ds.Err().Error()
	} else {
		e.trig = t
	}
}

// sameSchedule reports whether src differs from e's file only in the keys
// the scheduler writes itself.
func sameSchedule(e *entry, src []byte) bool {
	t, ds := config.ParseTrigger(e.path, src)
	if t == nil || ds.HasErrors() {
		return false
	}
	o := e.trig
	return t.Name == o.Name && t.Type == o.Type && t.RunAt.Equal(o.RunAt) && t.ScheduleText == o.ScheduleText &&
		t.PipelinePath == o.PipelinePath && t.Status == o.Status
}

// decide logs a decision about a trigger once per change of decision.
func (s *Scheduler) decide(e *entry, level slog.Level, msg string, args ...any) {
	key := msg + fmt.Sprint(args...)
	if e.announced == key {
		return
	}
	e.announced = key
	s.Log.Log(context.Background(), level, msg, append([]any{"file", e.path}, args...)...)
}

func (s *Scheduler) evaluate(ctx context.Context, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[path]
	if e == nil {
		return
	}
	if e.running {
		s.whileRunning(e)
		return
	}
	if e.invalid != "" {
		s.decide(e, slog.LevelError, "trigger file is invalid; not firing it until it is fixed", "problems", e.invalid)
		return
	}
	t := e.trig
	now := s.Clock.Now()
	switch t.Status {
	case config.StatusCompleted:
		s.decide(e, slog.LevelInfo, "trigger completed; it never fires again", "trigger", t.Name, "run_id", t.RunID)
		return
	case config.StatusDisabled:
		s.decide(e, slog.LevelInfo, "trigger disabled", "trigger", t.Name)
		return
	}
	if e.gaveUp {
		s.decide(e, slog.LevelWarn, "trigger failed too often; edit the file or restart the scheduler to try again", "trigger", t.Name, "attempts", e.attempts)
		return
	}
	if now.Before(e.nextTry) {
		return
	}
	switch t.Type {
	case config.TriggerOnce:
		if s.Completions != nil {
			runID, at, ok, err := s.Completions.Completion(ctx, t.Name)
			if err != nil {
				s.decide(e, slog.LevelError, "cannot read trigger completions from the database", "trigger", t.Name, "error", err)
				return
			}
			if ok {
				s.Log.Info("the database records this trigger as completed; finishing the file flip", "trigger", t.Name, "run_id", runID)
				s.complete(e, runID, at)
				return
			}
		}
		if now.Before(t.RunAt) {
			s.decide(e, slog.LevelInfo, "trigger waiting", "trigger", t.Name, "run_at_utc", t.RunAt.UTC().Format(time.RFC3339), "run_at_local", LocalTime(t.RunAt))
			return
		}
		if t.RunAt.Before(s.started) && t.Catchup == config.CatchupSkip && e.attempts == 0 {
			s.Log.Warn("run_at passed while no scheduler ran and catchup is skip; disabling the trigger", "trigger", t.Name, "run_at_utc", t.RunAt.UTC().Format(time.RFC3339))
			s.rewrite(e, Edit{Set: []KeyValue{{Key: "status", Value: config.StatusDisabled},
				{Key: "last_error", Value: "missed: run_at passed while no scheduler ran (catchup: skip)", Quote: true}}})
			return
		}
		reason := "run_at reached"
		if t.RunAt.Before(s.started) {
			reason = "run_at passed while no scheduler ran; catching up (catchup: run)"
		}
		s.fire(ctx, e, reason, now)
	case config.TriggerCron:
		if e.lastFire.IsZero() {
			e.lastFire = s.started
		}
		next := t.Schedule.Next(e.lastFire.In(t.Location))
		if now.Before(next) {
			s.decide(e, slog.LevelInfo, "trigger waiting", "trigger", t.Name, "next_utc", next.UTC().Format(time.RFC3339), "next_local", LocalTime(next))
			return
		}
		// Firings missed while the scheduler was busy or down collapse
		// into this one.
		e.lastFire = now
		s.fire(ctx, e, "schedule reached ("+next.UTC().Format(time.RFC3339)+")", now)
	}
}

// whileRunning handles a cron firing that comes due while the trigger's
// previous run is still going: with skip_if_running (the default) it is
// skipped and logged; otherwise it waits, and fires as soon as the run
// ends (several missed firings collapse into one). Called with s.mu held.
func (s *Scheduler) whileRunning(e *entry) {
	t := e.trig
	if t == nil || t.Type != config.TriggerCron || t.Schedule == nil || e.lastFire.IsZero() {
		return
	}
	now := s.Clock.Now()
	next := t.Schedule.Next(e.lastFire.In(t.Location))
	if now.Before(next) || !t.SkipIfRunning {
		return
	}
	s.Log.Info("cron firing skipped: the previous run is still going (skip_if_running)", "file", e.path,
		"trigger", t.Name, "scheduled_utc", next.UTC().Format(time.RFC3339))
	e.lastFire = now
}

// fire starts the trigger's run in the background. Called with s.mu held.
func (s *Scheduler) fire(ctx context.Context, e *entry, reason string, now time.Time) {
	t := e.trig
	e.running = true
	e.attempts++
	e.announced = ""
	s.Log.Info("firing trigger", "file", e.path, "trigger", t.Name, "reason", reason, "attempt", e.attempts)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		runID, err := s.Runner.Fire(ctx, t)
		if s.AfterRun != nil {
			s.AfterRun(t, runID, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		e.running = false
		s.finished(ctx, e, t, runID, err)
	}()
}

// finished handles a run's outcome. Called with s.mu held.
func (s *Scheduler) finished(ctx context.Context, e *entry, t *config.Trigger, runID string, err error) {
	now := s.Clock.Now()
	switch {
	case err == nil:
		s.Log.Info("trigger run completed", "file", e.path, "trigger", t.Name, "run_id", runID)
		e.attempts = 0
		if t.Type == config.TriggerOnce {
			s.complete(e, runID, now)
		} else if t.LastError != "" {
			s.rewrite(e, Edit{Remove: []string{"last_error"}})
		}
	case errors.Is(err, state.ErrTriggerCompleted):
		e.attempts--
		s.Log.Info("another scheduler completed this trigger; finishing the file flip", "file", e.path, "trigger", t.Name)
		if s.Completions != nil {
			if id, at, ok, cerr := s.Completions.Completion(ctx, t.Name); cerr == nil && ok {
				s.complete(e, id, at)
				return
			}
		}
		s.complete(e, runID, now)
	case errors.Is(err, state.ErrAlreadyRunning):
		e.attempts--
		e.nextTry = now.Add(s.BusyRetry)
		s.Log.Info("pipeline is being run by someone else; looking again later", "file", e.path, "trigger", t.Name, "error", err, "retry_in", s.BusyRetry.String())
	case ctx.Err() != nil:
		e.attempts--
		s.Log.Info("trigger run interrupted by shutdown; it resumes at the next start", "file", e.path, "trigger", t.Name)
	default:
		msg := err.Error()
		s.rewrite(e, Edit{Set: []KeyValue{{Key: "last_error", Value: firstLine(msg), Quote: true}}})
		if retry.ClassOf(err) == retry.Reauthorize || e.attempts >= t.MaxAttempts {
			e.gaveUp = true
			s.Log.Error("trigger run failed; giving up", "file", e.path, "trigger", t.Name, "attempts", e.attempts, "error", msg)
			return
		}
		e.nextTry = now.Add(t.RetryBackoff)
		s.Log.Error("trigger run failed; will retry", "file", e.path, "trigger", t.Name, "attempt", e.attempts,
			"max_attempts", t.MaxAttempts, "retry_at_utc", e.nextTry.UTC().Format(time.RFC3339), "error", msg)
	}
}

// complete flips a one-time trigger's file to completed.
func (s *Scheduler) complete(e *entry, runID string, at time.Time) {
	edit := Edit{Set: []KeyValue{
		{Key: "status", Value: config.StatusCompleted},
		{Key: "completed_at", Value: at.UTC().Format(time.RFC3339)},
	}, Remove: []string{"last_error"}}
	if runID != "" {
		edit.Set = append(edit.Set, KeyValue{Key: "run_id", Value: runID})
	}
	s.rewrite(e, edit)
}

// rewrite edits e's file in place and reloads it.
func (s *Scheduler) rewrite(e *entry, edit Edit) {
	src, err := os.ReadFile(e.path)
	if err != nil {
		s.Log.Error("reading trigger for rewrite", "file", e.path, "error", err)
		return
	}
	out, err := Rewrite(src, edit)
	if err != nil {
		s.Log.Error("rewriting trigger", "file", e.path, "error", err)
		return
	}
	if err := WriteFileAtomic(e.path, out); err != nil {
		s.Log.Error("rewriting trigger", "file", e.path, "error", err)
		return
	}
	t, ds := config.ParseTrigger(e.path, out)
	if t != nil && !ds.HasErrors() {
		e.trig = t
		e.hash = sha256.Sum256(out)
		if fi, err := os.Stat(e.path); err == nil {
			e.modTime, e.size = fi.ModTime(), fi.Size()
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 500 {
		line = line[:500] + "…"
	}
	return line
}

// LocalZone is the business time zone shown beside UTC.
const LocalZone = "America/Guayaquil"

// LocalTime renders t in LocalZone, e.g. "2026-12-04 18:59 -05:00".
func LocalTime(t time.Time) string {
	loc, err := time.LoadLocation(LocalZone)
	if err != nil {
		return t.UTC().Format(time.RFC3339)
	}
	return t.In(loc).Format("2006-01-02 15:04 -07:00")
}

// ErrNotActive is returned by FireNow for a completed or disabled trigger.
var ErrNotActive = errors.New("trigger is not active")

// FireNow runs the trigger in path at once, whatever its run_at or
// schedule, waits for the run, and records the outcome in the file as the
// scheduler would (a one-time trigger flips to completed).
func (s *Scheduler) FireNow(ctx context.Context, path string) (string, error) {
	s.init()
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("trigger %s: %w", path, err)
	}
	s.load(path, fi, nil)
	s.mu.Lock()
	e := s.entries[path]
	if e.invalid != "" {
		s.mu.Unlock()
		return "", fmt.Errorf("trigger %s is invalid:\n%s", path, e.invalid)
	}
	t := e.trig
	if t.Status != config.StatusActive {
		s.mu.Unlock()
		return "", fmt.Errorf("%w: %s is %s (to run it again: etl triggers reset %s)", ErrNotActive, t.Name, t.Status, path)
	}
	e.running = true
	e.attempts++
	s.mu.Unlock()
	s.Log.Info("firing trigger now", "file", path, "trigger", t.Name)
	runID, err := s.Runner.Fire(ctx, t)
	s.mu.Lock()
	defer s.mu.Unlock()
	e.running = false
	s.finished(ctx, e, t, runID, err)
	return runID, err
}

// Reset makes a completed (or disabled) trigger active again: status
// active, and completed_at, run_id and last_error removed.
func Reset(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := Rewrite(src, Edit{Set: []KeyValue{{Key: "status", Value: config.StatusActive}}, Remove: []string{"completed_at", "run_id", "last_error"}})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteFileAtomic(path, out)
}
