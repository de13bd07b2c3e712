package run

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/state"
)

// memStore is an in-memory state.Store.
type memStore struct {
	mu      sync.Mutex
	holder  string
	fence   int64
	runs    map[string]*state.Run
	order   []string
	windows map[string][]state.WindowState
	creds   map[string][]byte
}

func newMemStore() *memStore {
	return &memStore{runs: map[string]*state.Run{}, windows: map[string][]state.WindowState{}, creds: map[string][]byte{}}
}

type memLease struct {
	s    *memStore
	ref  state.RunRef
	lost chan struct{}
}

func (l *memLease) Ref() state.RunRef     { return l.ref }
func (l *memLease) Lost() <-chan struct{} { return l.lost }
func (l *memLease) Release(context.Context) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.holder == l.ref.RunID {
		l.s.holder = ""
	}
	return nil
}

func (s *memStore) Acquire(_ context.Context, pipeline, runID string, _ time.Duration) (state.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder != "" {
		return nil, &state.AlreadyRunningError{Pipeline: pipeline, HolderRunID: s.holder, Owner: "test"}
	}
	s.holder = runID
	s.fence++
	return &memLease{s: s, ref: state.RunRef{RunID: runID, Pipeline: pipeline, Fence: s.fence}, lost: make(chan struct{})}, nil
}

func (s *memStore) StartRun(_ context.Context, lease state.Lease, spec state.RunSpec) (state.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ml := lease.(*memLease)
	if !spec.Fresh {
		for i := len(s.order) - 1; i >= 0; i-- {
			r := s.runs[s.order[i]]
			if r.PlanKey == spec.PlanKey && r.Status != state.RunCompleted {
				r.Status = state.RunRunning
				r.Resumed = true
				ml.ref.RunID = r.RunID
				s.holder = r.RunID
				r.RunRef = ml.ref
				ws := s.windows[r.RunID]
				for i := range ws {
					if ws[i].Status != state.WindowCompleted {
						ws[i].Status = state.WindowPending
					}
				}
				return *r, nil
			}
		}
	}
	r := &state.Run{RunRef: ml.ref, PlanKey: spec.PlanKey, Status: state.RunRunning, Params: spec.Params, StartedAt: time.Now(), Trigger: spec.Trigger}
	s.runs[r.RunID] = r
	s.order = append(s.order, r.RunID)
	ws := make([]state.WindowState, len(spec.Windows))
	for i, w := range spec.Windows {
		ws[i] = state.WindowState{Window: w, Status: state.WindowPending}
	}
	s.windows[r.RunID] = ws
	return *r, nil
}

func (s *memStore) Windows(_ context.Context, runID string) ([]state.WindowState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]state.WindowState(nil), s.windows[runID]...), nil
}

func (s *memStore) MarkWindow(_ context.Context, ref state.RunRef, index int, st state.WindowStatus, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &s.windows[ref.RunID][index]
	w.Status, w.Error = st, msg
	if st == state.WindowRunning {
		w.Attempts++
	}
	return nil
}

func (s *memStore) complete(ref state.RunRef, o component.WindowOutcome, ws component.WriteStats) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fence != ref.Fence {
		return state.ErrLeaseLost
	}
	w := &s.windows[ref.RunID][o.Window.Index]
	w.Status = state.WindowCompleted
	w.SourceCount, w.Pages, w.Fetched, w.Distinct = o.Load.SourceCount, o.Load.Pages, o.Load.Fetched, o.Load.Distinct
	w.Inserted, w.Updated, w.Unchanged, w.Stale, w.Duplicates = ws.Inserted, ws.Updated, ws.Unchanged, ws.Stale, o.Dropped+ws.DuplicatesDropped
	w.Duration, w.Error = o.Duration, ""
	return nil
}

func (s *memStore) FinishRun(_ context.Context, ref state.RunRef, st state.RunStatus, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[ref.RunID]
	r.Status, r.Error = st, msg
	return nil
}

func (s *memStore) Run(_ context.Context, runID string) (state.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[runID]
	if !ok {
		return state.Run{}, errors.New("no such run")
	}
	return *r, nil
}

func (s *memStore) Runs(context.Context, string, int) ([]state.Run, error) { return nil, nil }
func (s *memStore) Credentials() state.CredentialStore                     { return nil }

// memExporter keeps rows in memory: id -> version.
type memExporter struct {
	store    *memStore
	mu       sync.Mutex
	rows     map[string]string
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func (e *memExporter) State() state.Store { return e.store }
func (e *memExporter) Close() error       { return nil }

func (e *memExporter) Begin(_ context.Context, ref state.RunRef, w plan.Window, _ component.Source) (component.WindowWriter, error) {
	n := e.inFlight.Add(1)
	for {
		m := e.maxSeen.Load()
		if n <= m || e.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	return &memWriter{e: e, ref: ref}, nil
}

func (e *memExporter) TableStats(context.Context) (component.TableStats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return component.TableStats{Table: "mem.rows", Rows: int64(len(e.rows)), DistinctIDs: int64(len(e.rows))}, nil
}

type memWriter struct {
	e       *memExporter
	ref     state.RunRef
	pending []component.Record
	done    bool
}

func (w *memWriter) Write(_ context.Context, p *component.Page) error {
	w.pending = append(w.pending, p.Records...)
	return nil
}

func (w *memWriter) Commit(_ context.Context, o component.WindowOutcome) (component.WriteStats, error) {
	var ws component.WriteStats
	w.e.mu.Lock()
	for _, r := range w.pending {
		ws.Received++
		old, ok := w.e.rows[r.ID]
		switch {
		case !ok:
			ws.Inserted++
		case old == r.Version:
			ws.Unchanged++
		default:
			ws.Updated++
		}
		w.e.rows[r.ID] = r.Version
	}
	w.e.mu.Unlock()
	if err := w.e.store.complete(w.ref, o, ws); err != nil {
		return ws, err
	}
	w.done = true
	w.e.inFlight.Add(-1)
	return ws, nil
}

func (w *memWriter) Rollback(context.Context) error {
	if !w.done {
		w.done = true
		w.e.inFlight.Add(-1)
	}
	return nil
}

// memLoader serves records from memory, page by page.
type memLoader struct {
	records  []component.Record
	pageSize int
	mu       sync.Mutex
	calls    map[int]int // window index -> Load calls
	// fail returns an error for a window's n-th call (1-based), or nil.
	fail func(w plan.Window, call int) error
	// countDelta is added to the source count of the window with this index.
	countDelta map[int]int64
	// block, when set, is waited on before each page.
	block chan struct{}
}

func (l *memLoader) Source() component.Source {
	return component.Source{System: "mem", Entity: "Thing", Realm: "r1", Env: "test"}
}
func (l *memLoader) Close() error { return nil }

func (l *memLoader) Load(ctx context.Context, w plan.Window, emit func(context.Context, *component.Page) error) (component.LoadStats, error) {
	l.mu.Lock()
	l.calls[w.Index]++
	call := l.calls[w.Index]
	l.mu.Unlock()
	if l.fail != nil {
		if err := l.fail(w, call); err != nil {
			return component.LoadStats{}, err
		}
	}
	var in []component.Record
	for _, r := range l.records {
		if !r.UpdatedAt.Before(w.Start) && r.UpdatedAt.Before(w.End) {
			in = append(in, r)
		}
	}
	sort.Slice(in, func(i, j int) bool { return in[i].UpdatedAt.Before(in[j].UpdatedAt) })
	var st component.LoadStats
	for i := 0; i < len(in); i += l.pageSize {
		if l.block != nil {
			select {
			case <-l.block:
			case <-ctx.Done():
				return st, ctx.Err()
			}
		}
		end := min(i+l.pageSize, len(in))
		st.Pages++
		st.Requests++
		st.Fetched += int64(end - i)
		p := &component.Page{Window: w, Number: st.Pages, Pass: 1, Size: l.pageSize, Request: fmt.Sprintf("page %d", st.Pages), Records: append([]component.Record(nil), in[i:end]...)}
		if err := emit(ctx, p); err != nil {
			return st, err
		}
	}
	st.Passes = 1
	st.Distinct = int64(len(in))
	st.SourceCount = int64(len(in)) + l.countDelta[w.Index]
	return st, nil
}

func (l *memLoader) callsFor(i int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[i]
}
