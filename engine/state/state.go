// Package state defines the engine's own durable state: runs, their
// windows, the lease that keeps two runs of one pipeline apart, and the
// store for rotating credentials. A stateful exporter implements Store next
// to the data it writes, so that a window's rows and its checkpoint commit
// in one transaction.
package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/etl-engine/etl/engine/plan"
)

// RunStatus is the lifecycle state of a run.
type RunStatus string

// Run statuses.
const (
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
	// RunInterrupted marks a run stopped by a signal; it resumes like a
	// failed run.
	RunInterrupted RunStatus = "interrupted"
)

// WindowStatus is the state of one window of a run.
type WindowStatus string

// Window statuses.
const (
	WindowPending   WindowStatus = "pending"
	WindowRunning   WindowStatus = "running"
	WindowCompleted WindowStatus = "completed"
	WindowFailed    WindowStatus = "failed"
)

// RunRef identifies a run and the lease under which it writes.
type RunRef struct {
	RunID    string
	Pipeline string
	// Fence is the lease's fencing token: a commit made under a lease that
	// has since been taken over by another run is refused.
	Fence int64
}

// RunSpec is what is needed to start or resume a run.
type RunSpec struct {
	Pipeline string
	// PlanKey identifies the plan (pipeline, parameters, step): a run can
	// resume only a run with the same key.
	PlanKey string
	Params  map[string]string
	Windows []plan.Window
	// Fresh starts a new run even when an unfinished one could be resumed.
	Fresh bool
	// Trigger names the trigger that started the run, if any. When
	// TriggerOnce is set, StartRun refuses with ErrTriggerCompleted if the
	// trigger is already recorded as completed, and FinishRun records the
	// completion in the same transaction as the run's end.
	Trigger     string
	TriggerOnce bool
}

// Run is a run as stored.
type Run struct {
	RunRef
	PlanKey    string
	Status     RunStatus
	Params     map[string]string
	StartedAt  time.Time
	FinishedAt *time.Time
	Error      string
	Trigger    string
	// Resumed is true when the run continues an earlier, unfinished run.
	Resumed bool
}

// WindowState is a window's stored state and counts.
type WindowState struct {
	plan.Window
	Status      WindowStatus
	Attempts    int
	SourceCount int64
	Pages       int
	Fetched     int64
	Distinct    int64
	Inserted    int64
	Updated     int64
	Unchanged   int64
	Stale       int64
	Duplicates  int64
	Retries     int
	Throttled   int
	MovedOut    int64
	Duration    time.Duration
	Error       string
	UpdatedAt   time.Time
}

// ErrAlreadyRunning is matched by AlreadyRunningError.
var ErrAlreadyRunning = errors.New("pipeline is already running")

// AlreadyRunningError says another run holds the pipeline's lease.
type AlreadyRunningError struct {
	Pipeline    string
	HolderRunID string
	Owner       string
	ExpiresAt   time.Time
}

func (e *AlreadyRunningError) Error() string {
	return fmt.Sprintf("pipeline %s is already running: run %s held by %s (lease expires %s unless renewed)",
		e.Pipeline, e.HolderRunID, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrAlreadyRunning) true.
func (e *AlreadyRunningError) Is(target error) bool { return target == ErrAlreadyRunning }

// ErrTriggerCompleted is returned by StartRun when the run's one-time
// trigger is already recorded as completed: the back-fill must not run
// again.
var ErrTriggerCompleted = errors.New("trigger already completed")

// ErrLeaseLost is returned when a run's lease was taken over, so that its
// commits are refused.
var ErrLeaseLost = errors.New("run lease lost to another run")

// Lease is a held pipeline lease.
type Lease interface {
	Ref() RunRef
	// Lost is closed when renewing the lease failed for good.
	Lost() <-chan struct{}
	// Release gives the lease up.
	Release(ctx context.Context) error
}

// Store is the engine's durable state.
type Store interface {
	// Acquire takes the pipeline's lease for runID, or returns an
	// *AlreadyRunningError naming the holder. A lease whose holder is gone
	// (expired, or a dead process on this host) is taken over.
	Acquire(ctx context.Context, pipeline, runID string, ttl time.Duration) (Lease, error)
	// StartRun creates a run, or resumes the latest unfinished run with the
	// same plan key unless spec.Fresh. It records the windows.
	StartRun(ctx context.Context, lease Lease, spec RunSpec) (Run, error)
	// Windows returns the run's windows in order.
	Windows(ctx context.Context, runID string) ([]WindowState, error)
	// MarkWindow records a window's status (running or failed) outside the
	// commit path; completed windows are recorded by the exporter's commit.
	MarkWindow(ctx context.Context, ref RunRef, index int, status WindowStatus, errMsg string) error
	// FinishRun records the run's end.
	FinishRun(ctx context.Context, ref RunRef, status RunStatus, errMsg string) error
	// Run returns one run.
	Run(ctx context.Context, runID string) (Run, error)
	// Runs returns the latest runs, newest first (all pipelines when
	// pipeline is empty).
	Runs(ctx context.Context, pipeline string, limit int) ([]Run, error)
	// Credentials returns the credential store.
	Credentials() CredentialStore
}

// CredentialStore keeps rotating credentials, such as OAuth refresh tokens.
type CredentialStore interface {
	// Get returns the stored value of key, or ok=false.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Update runs fn with the current value (nil if none) while holding an
	// exclusive lock on key across processes, and stores what fn returns
	// before Update returns. If fn fails, nothing is stored.
	Update(ctx context.Context, key string, fn func(current []byte) ([]byte, error)) error
}
