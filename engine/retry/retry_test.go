package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

type hinted struct {
	error
	class Class
	after time.Duration
}

func (h hinted) RetryClass() Class                 { return h.class }
func (h hinted) RetryAfter() (time.Duration, bool) { return h.after, h.after > 0 }

// recorder is a Sleeper that records waits instead of sleeping.
type recorder struct{ waits []time.Duration }

func (r *recorder) sleep(_ context.Context, d time.Duration) error {
	r.waits = append(r.waits, d)
	return nil
}

func policy() Policy {
	p := DefaultPolicy()
	p.InitialBackoff, p.MaxBackoff, p.Jitter = 100*time.Millisecond, time.Second, 0
	p.ThrottleWait = 60 * time.Second
	p.MaxRetryAfter = 5 * time.Minute
	return p
}

func TestRunnerWaits(t *testing.T) {
	tests := []struct {
		name  string
		p     func(*Policy)
		errs  []error // returned by successive attempts; then success
		waits []time.Duration
		class Class // of the final error, "" for success
	}{
		{
			name:  "exponential backoff on server errors",
			errs:  []error{Mark(ServerError, errors.New("503")), Mark(ServerError, errors.New("503")), Mark(ServerError, errors.New("500"))},
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond},
		},
		{
			name:  "throttling without a hint waits the throttle wait",
			errs:  []error{Mark(Throttled, errors.New("429"))},
			waits: []time.Duration{60 * time.Second},
		},
		{
			name:  "Retry-After replaces the throttle wait",
			errs:  []error{hinted{errors.New("429"), Throttled, 2 * time.Second}},
			waits: []time.Duration{2 * time.Second},
		},
		{
			name:  "Retry-After is a floor for server errors",
			errs:  []error{hinted{errors.New("503"), ServerError, 3 * time.Second}},
			waits: []time.Duration{3 * time.Second},
		},
		{
			name:  "an absurd Retry-After is capped",
			errs:  []error{hinted{errors.New("429"), Throttled, 24 * time.Hour}},
			waits: []time.Duration{5 * time.Minute},
		},
		{
			name:  "Retry-After ignored when the policy says so",
			p:     func(p *Policy) { p.HonorRetryAfter = false },
			errs:  []error{hinted{errors.New("503"), ServerError, 30 * time.Second}},
			waits: []time.Duration{100 * time.Millisecond},
		},
		{
			name:  "permanent errors are not retried",
			errs:  []error{Mark(Permanent, errors.New("400")), nil},
			class: Permanent,
		},
		{
			name:  "reauthorize is not retried",
			errs:  []error{Mark(Reauthorize, errors.New("invalid_grant")), nil},
			class: Reauthorize,
		},
		{
			name:  "classes outside retry_on are not retried",
			p:     func(p *Policy) { p.RetryOn = []Class{Throttled} },
			errs:  []error{Mark(Network, errors.New("reset")), nil},
			class: Network,
		},
		{
			name:  "an exhausted policy stops and is permanent",
			p:     func(p *Policy) { p.MaxAttempts = 3 },
			errs:  []error{Mark(Network, errors.New("a")), Mark(Network, errors.New("b")), Mark(Network, errors.New("c")), nil},
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond},
			class: Permanent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy()
			if tt.p != nil {
				tt.p(&p)
			}
			rec := &recorder{}
			calls := 0
			err := Runner{Policy: p, Sleep: rec.sleep}.Do(t.Context(), func(context.Context, int) error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if tt.class == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.class != "" && ClassOf(err) != tt.class {
				t.Fatalf("class = %s (%v), want %s", ClassOf(err), err, tt.class)
			}
			if len(rec.waits) != len(tt.waits) {
				t.Fatalf("waits = %v, want %v", rec.waits, tt.waits)
			}
			for i := range tt.waits {
				if rec.waits[i] != tt.waits[i] {
					t.Fatalf("waits = %v, want %v", rec.waits, tt.waits)
				}
			}
		})
	}
}

func TestRunnerStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := Runner{Policy: policy(), Sleep: SleepContext}.Do(ctx, func(context.Context, int) error {
		calls++
		cancel()
		return Mark(ServerError, errors.New("503"))
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

func TestJitterStaysInItsBand(t *testing.T) {
	p := policy()
	p.Jitter = 0.5
	for range 50 {
		rec := &recorder{}
		calls := 0
		_ = Runner{Policy: p, Sleep: rec.sleep}.Do(t.Context(), func(context.Context, int) error {
			calls++
			if calls == 1 {
				return Mark(Network, errors.New("x"))
			}
			return nil
		})
		if w := rec.waits[0]; w < 50*time.Millisecond || w > 150*time.Millisecond {
			t.Fatalf("wait %s outside [50ms, 150ms]", w)
		}
	}
}

func TestClassOf(t *testing.T) {
	if ClassOf(context.DeadlineExceeded) != Timeout {
		t.Fatal("deadline is not a timeout")
	}
	if ClassOf(errors.New("x")) != Permanent {
		t.Fatal("unclassified errors must be permanent")
	}
	wrapped := errors.Join(errors.New("ctx"), Mark(Throttled, errors.New("429")))
	if ClassOf(wrapped) != Throttled {
		t.Fatal("class lost through wrapping")
	}
}
