package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/etl-engine/etl/engine/diag"
)

// Trigger types and statuses.
const (
	TriggerOnce = "once"
	TriggerCron = "cron"

	StatusActive    = "active"
	StatusCompleted = "completed"
	StatusDisabled  = "disabled"

	CatchupRun  = "run"
	CatchupSkip = "skip"
)

// Trigger is a trigger file that passed its static checks.
type Trigger struct {
	File string
	Doc  *Document
	Name string
	Type string
	// PipelineFile is the pipeline path as written; PipelinePath is it
	// resolved against the trigger file's folder.
	PipelineFile string
	PipelinePath string
	Params       map[string]ParamValue
	Status       string
	RunAt        time.Time
	Catchup      string
	Schedule     cron.Schedule
	ScheduleText string
	Location     *time.Location
	// SkipIfRunning applies to cron triggers.
	SkipIfRunning bool
	MaxAttempts   int
	RetryBackoff  time.Duration
	CompletedAt   time.Time
	RunID         string
	LastError     string
}

// CronParser parses trigger schedules: five fields or a descriptor such as
// @daily.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// LoadTrigger reads and checks a trigger file on its own (not against its
// pipeline; see CheckTrigger).
func LoadTrigger(file string) (*Trigger, diag.List) {
	src, err := ReadFile(file)
	if err != nil {
		var ds diag.List
		ds.Errorf(file, 0, 0, "", "cannot read trigger: %v", err)
		return nil, ds
	}
	return ParseTrigger(file, src)
}

// ParseTrigger checks a trigger held in memory.
func ParseTrigger(file string, src []byte) (*Trigger, diag.List) {
	doc, ds := Parse(file, src)
	if doc == nil {
		return nil, ds
	}
	return TriggerFromDoc(doc, ds)
}

// TriggerFromDoc checks a parsed document as a trigger; ds holds what Parse
// reported.
func TriggerFromDoc(doc *Document, ds diag.List) (*Trigger, diag.List) {
	file := doc.File
	schema, err := triggerSchema()
	if err != nil {
		ds.Errorf(file, 0, 0, "", "%v", err)
		return nil, ds
	}
	failed := schema.validate(doc, &ds)
	c := newChecker(doc, &ds, failed)
	c.trigger = true
	t := &Trigger{File: file, Doc: doc, Params: map[string]ParamValue{}, Catchup: CatchupRun, SkipIfRunning: true, Location: time.UTC, MaxAttempts: 3, RetryBackoff: 10 * time.Minute}
	if name, ok := c.str("/name"); ok {
		t.Name = name
		if !namePattern.MatchString(name) {
			c.errorf("/name", "use lower-case letters, digits and underscores", "trigger name %q is not a valid name", name)
		}
	}
	t.Type, _ = c.str("/type")
	t.Status, _ = c.str("/status")
	if s, ok := c.str("/catchup"); ok {
		t.Catchup = s
	}
	if v, ok := c.value("/skip_if_running").(bool); ok {
		t.SkipIfRunning = v
	}
	if v, ok := c.value("/retry/max_attempts").(int64); ok && !failed["/retry/max_attempts"] {
		t.MaxAttempts = int(v)
	}
	c.duration("/retry/backoff", &t.RetryBackoff)
	if s, ok := c.str("/pipeline"); ok && strings.TrimSpace(s) == "" {
		c.errorf("/pipeline", "write the pipeline file's path, relative to this file's folder", "pipeline is empty")
	} else if ok {
		t.PipelineFile = s
		t.PipelinePath = s
		if !filepath.IsAbs(s) {
			t.PipelinePath = filepath.Join(filepath.Dir(file), s)
		}
	}
	if s, ok := c.str("/run_at"); ok {
		at, err := ParseTimestamp(s)
		if err != nil {
			c.errorf("/run_at", TimestampHint, "run_at: %v", err)
		}
		t.RunAt = at
		if t.Type == TriggerCron {
			c.warnf("/run_at", "remove it, or use type: once", "run_at is ignored by cron triggers")
		}
	}
	if tz, ok := c.str("/timezone"); ok {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "" || tz == "Local" {
			c.errorf("/timezone", "use an IANA name such as UTC or America/Guayaquil", "timezone: unknown time zone %q", tz)
		} else {
			t.Location = loc
		}
	}
	if s, ok := c.str("/schedule"); ok {
		t.ScheduleText = s
		sched, err := CronParser.Parse(s)
		if err != nil {
			c.errorf("/schedule", `five fields: minute hour day-of-month month day-of-week, e.g. "59 23 * * *", or @daily`, "schedule %q: %v", s, err)
		} else {
			t.Schedule = sched
		}
		if t.Type == TriggerOnce {
			c.warnf("/schedule", "remove it, or use type: cron", "schedule is ignored by one-time triggers")
		}
	}
	if s, ok := c.str("/completed_at"); ok {
		at, err := ParseTimestamp(s)
		if err != nil {
			c.errorf("/completed_at", TimestampHint, "completed_at: %v", err)
		}
		t.CompletedAt = at
	}
	c.literalSecrets("", doc.Data)
	t.RunID, _ = c.str("/run_id")
	t.LastError, _ = c.str("/last_error")
	if params, ok := c.value("/params").(map[string]any); ok {
		for name, v := range params {
			ptr := pointerOf("params", name)
			l, col := doc.Pos(ptr)
			kl, kc := doc.KeyPos(ptr)
			// A value already reported (by the schema, say) is kept as given
			// but invalid, so that it is not reported again as missing.
			t.Params[name] = ParamValue{Value: v, File: file, Line: l, Col: col, Pointer: ptr, KeyLine: kl, KeyCol: kc, Invalid: c.failed[ptr]}
		}
	}
	return t, ds.Sort()
}

// yamlFiles lists the .yaml and .yml files of a folder, for suggestions.
func yamlFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			out = append(out, n)
		}
	}
	return out
}

// PipelineLoader loads a pipeline file; LoadPipeline is one, a caching
// loader another.
type PipelineLoader func(path string) (*Pipeline, diag.List)

// CheckTrigger loads t's pipeline with load (LoadPipeline when nil) and
// checks that t's params fit it. A pipeline with errors is reported once, on
// the trigger's pipeline key; its own diagnostics belong to its file.
func CheckTrigger(t *Trigger, load PipelineLoader) (*Pipeline, diag.List) {
	var ds diag.List
	if t.PipelinePath == "" {
		return nil, ds
	}
	if load == nil {
		load = LoadPipeline
	}
	line, col := t.Doc.Pos("/pipeline")
	info, err := os.Stat(t.PipelinePath)
	switch {
	case err == nil && !info.Mode().IsRegular():
		ds.Errorf(t.File, line, col, "/pipeline", "pipeline %s is not a file", t.PipelinePath).Hint = "name the pipeline's .yaml file, relative to this file's folder"
		return nil, ds
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		ds.Errorf(t.File, line, col, "/pipeline", "cannot read pipeline %s: %v", t.PipelinePath, pathError(err))
		return nil, ds
	case err != nil:
		d := ds.Errorf(t.File, line, col, "/pipeline", "pipeline file %s does not exist", t.PipelinePath)
		d.Hint = "the path is relative to the trigger file's folder, e.g. ../pipelines/qb_items_backfill.yaml"
		if m := suggest(filepath.Base(t.PipelinePath), yamlFiles(filepath.Dir(t.PipelinePath))); m != "" {
			d.Hint = "did you mean " + filepath.ToSlash(filepath.Join(filepath.Dir(t.PipelineFile), m)) + "?"
		}
		return nil, ds
	}
	p, pds := load(t.PipelinePath)
	if p == nil || pds.HasErrors() {
		n, _ := pds.Count()
		s := "s"
		if n == 1 {
			s = ""
		}
		d := ds.Errorf(t.File, line, col, "/pipeline", "pipeline %s has %d error%s; its params are not checked until they are fixed", t.PipelinePath, n, s)
		d.Hint = "etl lint " + t.PipelinePath + " lists them"
		return p, ds
	}
	ptr := "/params"
	if !t.Doc.Has(ptr) {
		ptr = ""
	}
	pl, pc := t.Doc.KeyPos(ptr)
	b := &Binder{Mode: BindCheck, MissingAt: &ParamValue{File: t.File, Line: pl, Col: pc, Pointer: ptr}}
	_, bds := b.Bind(p, t.Params)
	for _, d := range bds {
		if d.Severity == diag.Error {
			ds = append(ds, d)
		}
	}
	return p, ds.Sort()
}
