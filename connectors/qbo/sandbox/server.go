package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	shutdownTimeout   = 10 * time.Second
	readHeaderTimeout = 10 * time.Second
	maxPooledPage     = 8 << 20 // page buffers above this size are not reused
)

// Server is a QBO-compatible HTTP server over generated data. It is safe
// for concurrent use.
type Server struct {
	opts   Options
	loc    *time.Location
	store  *store
	auth   *authState
	limits *limiter
	faults *faultState
	stats  *counters
	log    *slog.Logger

	tidPrefix string
	tidSeq    atomic.Uint64
	pages     sync.Pool // *[]byte page buffers
	handler   http.Handler

	// admitted, when set by tests before serving, runs after a data request
	// has been admitted by the limits (to hold requests in flight).
	admitted func()
}

// RecordInfo is the current state of one record.
type RecordInfo struct {
	ID          string
	SyncToken   string
	Active      bool
	LastUpdated time.Time // UTC, second precision
	Created     time.Time // UTC, second precision
}

// New validates opts, fills defaults and generates all records.
func New(opts Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	loc, err := loadPacific()
	if err != nil {
		return nil, err
	}
	prefix := make([]byte, 4)
	if _, err := rand.Read(prefix); err != nil {
		return nil, fmt.Errorf("sandbox: transaction id prefix: %w", err)
	}
	auth, err := newAuthState(o)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:      o,
		loc:       loc,
		store:     newStore(newGenerator(o, loc)),
		auth:      auth,
		limits:    &limiter{perMinute: o.RequestsPerMinute, maxInFlight: o.MaxInFlight},
		faults:    &faultState{f: o.Faults},
		stats:     &counters{},
		log:       o.Logger,
		tidPrefix: hex.EncodeToString(prefix),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/v1/tokens/bearer", s.handleToken)
	mux.HandleFunc("GET /v3/company/{realm}/query", s.handleQuery)
	mux.HandleFunc("POST /v3/company/{realm}/query", s.handleQuery)
	mux.HandleFunc("GET /_sandbox/stats", s.handleStats)
	mux.HandleFunc("GET /_sandbox/health", s.handleHealth)
	s.handler = s.withTransactionID(mux)
	s.log.Info("sandbox ready", "realm_id", o.RealmID,
		"customers", s.store.count(kindCustomer), "items", s.store.count(kindItem), "invoices", s.store.count(kindInvoice))
	return s, nil
}

// Handler returns the HTTP handler serving all routes.
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on addr and serves until ctx is done, then shuts
// down gracefully. It returns nil after a graceful shutdown.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully. It
// closes ln and returns nil after a graceful shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("sandbox listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sandbox: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("sandbox: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sandbox: serve: %w", err)
	}
	return nil
}

// RealmID returns the company id served.
func (s *Server) RealmID() string { return s.opts.RealmID }

// ClientID returns the accepted OAuth2 client id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret returns the accepted OAuth2 client secret.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// RefreshToken returns the currently valid refresh token.
func (s *Server) RefreshToken() string { return s.auth.currentRefresh() }

// Records returns the current state of every record of entity (inactive
// ones included) sorted by Id, or nil for an unknown entity.
func (s *Server) Records(entity string) []RecordInfo {
	k, ok := entityKindByName(entity)
	if !ok {
		return nil
	}
	return s.store.infos(k)
}

// Payload returns the current JSON of one record exactly as the query
// endpoint serves it.
func (s *Server) Payload(entity, id string) ([]byte, error) {
	k, err := lookupKind(entity)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", k, id, ErrNotFound)
	}
	js := s.store.payload(k, n)
	if js == nil {
		return nil, fmt.Errorf("%s %q: %w", k, id, ErrNotFound)
	}
	return append([]byte(nil), js...), nil
}

// Update simulates an edit in QBO: SyncToken+1 and
// MetaData.LastUpdatedTime = Now() (second precision).
func (s *Server) Update(entity, id string) error {
	k, err := lookupKind(entity)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q: %w", k, id, ErrNotFound)
	}
	if err := s.store.update(k, n, s.opts.Now()); err != nil {
		return err
	}
	s.stats.add(func(st *Stats) { st.Mutations++ })
	return nil
}

// SetFaults replaces the injected faults at run time and restarts their
// counters (the next data request is the first one counted). Negative
// values are treated as zero (off).
func (s *Server) SetFaults(f Faults) {
	if err := f.validate(); err != nil {
		s.log.Warn("negative fault values treated as off", "error", err)
		f = f.clamped()
	}
	s.faults.set(f)
}

// Faults returns the faults currently injected.
func (s *Server) Faults() Faults { return s.faults.get() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	inFlight, maxInFlight, maxPerMinute := s.limits.snapshot()
	st.InFlight, st.MaxInFlightSeen, st.MaxPerMinuteSeen = int64(inFlight), int64(maxInFlight), int64(maxPerMinute)
	st.PerToken = s.auth.tokenStats()
	return st
}

// handleStats serves GET /_sandbox/stats.
func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	body, err := json.MarshalIndent(s.Stats(), "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.write(w, http.StatusOK, contentTypeJSON, append(body, '\n'))
}

// handleHealth serves GET /_sandbox/health.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	s.write(w, http.StatusOK, contentTypeJSON, []byte(`{"status":"ok"}`+"\n"))
}

// withTransactionID sets a unique intuit_tid header on every response and
// logs each request (never its credentials).
func (s *Server) withTransactionID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		tid := fmt.Sprintf("1-%s-%012x", s.tidPrefix, s.tidSeq.Add(1))
		w.Header().Set("intuit_tid", tid)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"intuit_tid", tid, "duration", time.Since(start))
	})
}

// statusWriter records the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// write sends a complete response.
func (s *Server) write(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		s.log.Debug("write response", "error", err)
	}
}

// now is the server clock.
func (s *Server) now() time.Time { return s.opts.Now() }

// responseTime renders t as QBO's envelope time: Pacific, milliseconds,
// offset.
func (s *Server) responseTime(t time.Time) string {
	return t.In(s.loc).Format(layoutResponseTime)
}
