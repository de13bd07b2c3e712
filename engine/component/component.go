package component

import (
	"context"
	"log/slog"
	"time"

	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/engine/state"
)

// Record is one entity read from a source.
type Record struct {
	// ID is the entity's stable key at the source (QBO Id).
	ID string
	// UpdatedAt is the value of the segmentation cursor field.
	UpdatedAt time.Time
	// Version is the source's version marker (QBO SyncToken), if any.
	Version string
	// Payload is the entity as received: one JSON object, unmodified.
	Payload []byte
}

// Page is the records one request returned, with where they came from.
type Page struct {
	Window plan.Window
	// Number counts the pages of a window from 1, across re-paging passes.
	Number int
	// Pass counts paging passes over the window from 1.
	Pass int
	// Size is the page size that was requested.
	Size int
	// Request describes what was asked, e.g. the QBO query. It never holds a
	// secret.
	Request string
	Records []Record
}

// Source describes the system records come from; exporters store it with
// each row.
type Source struct {
	System string // e.g. "qbo"
	Entity string // e.g. "Invoice"
	Realm  string // source account, e.g. the QBO realm id
	Env    string // e.g. "sandbox" or "production"
}

// LoadStats are a loader's counts for one window.
type LoadStats struct {
	// SourceCount is what the source says the window holds, counted after
	// paging (for QBO, SELECT COUNT(*)).
	SourceCount int64
	Pages       int
	// Fetched counts records received, repeats included.
	Fetched int64
	// Distinct counts distinct ids in the final, stable pass.
	Distinct  int64
	Passes    int
	Requests  int
	Retries   int
	Throttled int
	// MovedOut counts records seen during paging that had left the window
	// by the end of it (updated at the source meanwhile).
	MovedOut int64
}

// Loader reads the records of a window from a source.
type Loader interface {
	// Source describes where records come from.
	Source() Source
	// Load fetches every record of w and hands them to emit page by page, in
	// order. A page passed to emit is not touched by the loader afterwards.
	// Load returns only after the window is complete and verified; any error
	// means the window must be retried as a whole.
	Load(ctx context.Context, w plan.Window, emit func(context.Context, *Page) error) (LoadStats, error)
	Close() error
}

// Transform changes pages between loader and exporter.
type Transform interface {
	// Start returns the function that transforms the pages of one window,
	// which are passed in order. It may keep state for the window.
	Start(w plan.Window) PageFunc
}

// PageFunc transforms one page in place. An error rejects the window.
type PageFunc func(ctx context.Context, p *Page) error

// WriteStats are an exporter's counts for one window.
type WriteStats struct {
	// Received counts records handed to the writer.
	Received int64
	Inserted int64
	Updated  int64
	// Unchanged counts records identical to the stored row (not rewritten).
	Unchanged int64
	// Stale counts records older than the stored row (not rewritten).
	Stale int64
	// DuplicatesDropped counts records whose id appeared again in the window.
	DuplicatesDropped int64
}

// WindowOutcome is what the engine knows of a window when it commits it.
type WindowOutcome struct {
	RunID  string
	Window plan.Window
	Load   LoadStats
	// Dropped counts records the engine did not pass to the writer because
	// the same id and version was already written in this window.
	Dropped  int64
	Started  time.Time
	Duration time.Duration
}

// Exporter writes windows to a destination.
type Exporter interface {
	// Begin opens the unit of work of one window.
	Begin(ctx context.Context, run state.RunRef, w plan.Window, src Source) (WindowWriter, error)
	Close() error
}

// WindowWriter receives the pages of one window and commits them, together
// with the window's checkpoint and counts, atomically.
type WindowWriter interface {
	Write(ctx context.Context, p *Page) error
	// Commit makes the rows, the window's completed state and its counts
	// durable in one transaction. It returns the write counts.
	Commit(ctx context.Context, o WindowOutcome) (WriteStats, error)
	// Rollback discards everything written since Begin. It is safe to call
	// after Commit (then it does nothing).
	Rollback(ctx context.Context) error
}

// StatefulExporter is an exporter that also keeps the engine's run state
// (runs, windows, leases, credentials) beside the data, so that rows and
// checkpoints commit together. The run loop needs one.
type StatefulExporter interface {
	Exporter
	State() state.Store
}

// RateLimit bounds how fast a loader calls its source.
type RateLimit struct {
	RequestsPerMinute int
	MaxConcurrent     int
}

// Timeouts bound how long work may take. Zero means no bound.
type Timeouts struct {
	Request time.Duration
	Window  time.Duration
}

// BuildContext is what the engine passes to every constructor besides the
// component's own settings.
type BuildContext struct {
	Pipeline  string
	Logger    *slog.Logger
	Retry     retry.Policy
	RateLimit RateLimit
	Timeouts  Timeouts
	// WindowConcurrency is how many windows the run loads at once; an
	// exporter sizes its connection pool from it.
	WindowConcurrency int
	// CursorField is the source field that places a record in a window
	// (segmentation.cursor_field).
	CursorField string
	// Credentials persists rotating credentials (such as OAuth refresh
	// tokens). Nil when the component is built without a state store.
	Credentials state.CredentialStore
	// Redactor scrubs secret values; constructors register the secrets they
	// obtain at run time (such as new tokens).
	Redactor *secret.Redactor
}

// Settings are a component's resolved settings, keyed by field name, with
// values of the Go type their field decodes to (secret fields hold
// secret.Value).
type Settings map[string]any

// LoaderFactory builds a loader.
type LoaderFactory func(ctx context.Context, bc BuildContext, s Settings) (Loader, error)

// TransformFactory builds a transform.
type TransformFactory func(ctx context.Context, bc BuildContext, s Settings) (Transform, error)

// ExporterFactory builds an exporter.
type ExporterFactory func(ctx context.Context, bc BuildContext, s Settings) (Exporter, error)

// String returns a string setting ("" when absent).
func (s Settings) String(name string) string { v, _ := s[name].(string); return v }

// Int returns an integer setting (0 when absent).
func (s Settings) Int(name string) int64 { v, _ := s[name].(int64); return v }

// Bool returns a boolean setting (false when absent).
func (s Settings) Bool(name string) bool { v, _ := s[name].(bool); return v }

// Duration returns a duration setting (0 when absent).
func (s Settings) Duration(name string) time.Duration { v, _ := s[name].(time.Duration); return v }

// Strings returns a string-list setting.
func (s Settings) Strings(name string) []string { v, _ := s[name].([]string); return v }

// Secret returns a secret setting.
func (s Settings) Secret(name string) secret.Value { v, _ := s[name].(secret.Value); return v }

// TableStats are a destination's totals, for the run report.
type TableStats struct {
	Table       string
	Rows        int64
	DistinctIDs int64
	MinUpdated  time.Time
	MaxUpdated  time.Time
	// InvalidPayloads counts rows whose payload is not a JSON object.
	InvalidPayloads int64
}

// TableStatser is implemented by exporters that can describe their target
// table for the run report.
type TableStatser interface {
	TableStats(ctx context.Context) (TableStats, error)
}

// Migrator is implemented by exporters whose destination needs a schema;
// the run applies it before the first window (it must be idempotent).
type Migrator interface {
	Migrate(ctx context.Context) error
}
