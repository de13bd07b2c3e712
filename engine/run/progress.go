package run

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
)

// WindowEvent describes a committed window to a Progress.
type WindowEvent struct {
	Window   plan.Window
	Load     component.LoadStats
	Write    component.WriteStats
	Dropped  int64
	Duration time.Duration
}

// Progress follows a run. Implementations must be safe for concurrent use.
type Progress interface {
	Start(runID string, total, alreadyDone int)
	WindowDone(WindowEvent)
	WindowFailed(plan.Window, error)
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(string, int, int)          {}
func (nopProgress) WindowDone(WindowEvent)          {}
func (nopProgress) WindowFailed(plan.Window, error) {}
func (nopProgress) Finish()                         {}

// Bar draws a progress bar on a terminal: windows done of total, records
// loaded, records per second and the time left.
type Bar struct {
	w   io.Writer
	mu  sync.Mutex
	bar *progressbar.ProgressBar

	start   time.Time
	records int64
}

// NewBar returns a Progress drawing on w (a terminal).
func NewBar(w io.Writer) *Bar { return &Bar{w: w} }

// Start implements Progress.
func (b *Bar) Start(runID string, total, done int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.start = time.Now()
	b.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription("run "+runID),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
	)
	_ = b.bar.Set(done)
}

// WindowDone implements Progress.
func (b *Bar) WindowDone(ev WindowEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records += ev.Load.Fetched
	rate := float64(b.records) / max(time.Since(b.start).Seconds(), 0.001)
	b.bar.Describe(fmt.Sprintf("windows | %d records | %.0f rec/s", b.records, rate))
	_ = b.bar.Add(1)
}

// WindowFailed implements Progress.
func (b *Bar) WindowFailed(w plan.Window, err error) {}

// Finish implements Progress.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Exit()
		fmt.Fprintln(b.w)
	}
}

// LogProgress reports progress as structured log lines, for output that is
// not a terminal: one line per window with the totals so far and the time
// left.
type LogProgress struct {
	Log *slog.Logger

	mu      sync.Mutex
	start   time.Time
	total   int
	done    int
	started int
	records int64
}

// Start implements Progress.
func (p *LogProgress) Start(runID string, total, done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start, p.total, p.done, p.started = time.Now(), total, done, done
}

// WindowDone implements Progress.
func (p *LogProgress) WindowDone(ev WindowEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.records += ev.Load.Fetched
	elapsed := time.Since(p.start)
	var eta time.Duration
	if n := p.done - p.started; n > 0 {
		eta = time.Duration(float64(elapsed) / float64(n) * float64(p.total-p.done))
	}
	p.Log.Info("progress", "windows_done", p.done, "windows_total", p.total, "records", p.records,
		"records_per_s", int64(float64(p.records)/max(elapsed.Seconds(), 0.001)), "eta", eta.Round(time.Second).String())
}

// WindowFailed implements Progress.
func (p *LogProgress) WindowFailed(plan.Window, error) {}

// Finish implements Progress.
func (p *LogProgress) Finish() {}
