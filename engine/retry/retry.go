// Package retry runs operations under a retry policy: exponential backoff
// with jitter, a floor from Retry-After, a fixed wait on throttling, and an
// error class that decides what is retried at all.
package retry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Class says what kind of failure an error is, and so whether it is retried.
type Class string

// Error classes. Retryable classes are listed in Policy.RetryOn; the other
// two never are.
const (
	Throttled   Class = "throttled"    // HTTP 429 or a throttling fault
	ServerError Class = "server_error" // HTTP 5xx
	Timeout     Class = "timeout"      // a request that took too long
	Network     Class = "network"      // connection refused, reset, EOF
	Malformed   Class = "malformed"    // a response that could not be decoded
	Permanent   Class = "permanent"    // a bad request: retrying will not help
	Reauthorize Class = "reauthorize"  // credentials revoked or expired: a human must act
)

// RetryableClasses are the classes a policy may retry.
var RetryableClasses = []Class{Throttled, ServerError, Timeout, Network, Malformed}

// Policy is a retry policy as written in a pipeline file.
type Policy struct {
	// MaxAttempts counts the first try; 1 means no retry.
	MaxAttempts    int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	// Jitter is the randomisation factor in [0, 1]: each wait is drawn from
	// [w*(1-Jitter), w*(1+Jitter)].
	Jitter float64
	// RetryOn lists the classes that are retried.
	RetryOn []Class
	// HonorRetryAfter makes a Retry-After hint the minimum wait.
	HonorRetryAfter bool
	// ThrottleWait is the wait after a throttled response that carries no
	// Retry-After (QBO sends none and asks for 60 s).
	ThrottleWait time.Duration
	// MaxRetryAfter caps a Retry-After hint, so that a hostile or broken
	// server cannot park a run for a day.
	MaxRetryAfter time.Duration
}

// DefaultPolicy is used where a pipeline sets no retry policy.
func DefaultPolicy() Policy {
	return Policy{
		MaxAttempts:     6,
		InitialBackoff:  time.Second,
		MaxBackoff:      2 * time.Minute,
		Multiplier:      2,
		Jitter:          0.2,
		RetryOn:         slices.Clone(RetryableClasses),
		HonorRetryAfter: true,
		ThrottleWait:    60 * time.Second,
		MaxRetryAfter:   5 * time.Minute,
	}
}

// Classified is implemented by errors that know their class.
type Classified interface {
	error
	RetryClass() Class
}

// Hinted is implemented by errors that carry a server's wait hint.
type Hinted interface {
	RetryAfter() (time.Duration, bool)
}

// ClassOf returns the class of err: the class of the first Classified error
// in its chain, Timeout for deadline errors, and Permanent otherwise.
func ClassOf(err error) Class {
	var c Classified
	if errors.As(err, &c) {
		return c.RetryClass()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout
	}
	return Permanent
}

// Mark wraps err with a class.
func Mark(class Class, err error) error {
	if err == nil {
		return nil
	}
	return &classError{class: class, err: err}
}

type classError struct {
	class Class
	err   error
}

func (e *classError) Error() string     { return e.err.Error() }
func (e *classError) Unwrap() error     { return e.err }
func (e *classError) RetryClass() Class { return e.class }

// Retryable reports whether the policy retries errors of class c.
func (p Policy) Retryable(c Class) bool { return slices.Contains(p.RetryOn, c) }

// ExhaustedError is returned when every attempt failed.
type ExhaustedError struct {
	Attempts int
	Elapsed  time.Duration
	Last     error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("gave up after %d attempts in %s: %v", e.Attempts, e.Elapsed.Round(time.Millisecond), e.Last)
}

func (e *ExhaustedError) Unwrap() error { return e.Last }

// RetryClass makes an exhausted policy final: the request was already
// retried as often as the pipeline allows, so callers do not retry it again.
func (e *ExhaustedError) RetryClass() Class { return Permanent }

// Attempt describes a failed attempt to the Notify callback.
type Attempt struct {
	Number int
	Err    error
	Class  Class
	Wait   time.Duration
}

// Sleeper waits for d or until ctx is done. Tests replace it.
type Sleeper func(ctx context.Context, d time.Duration) error

// SleepContext is the real Sleeper.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Runner runs operations under a policy.
type Runner struct {
	Policy Policy
	// Notify, when set, is called after each failed attempt that will be
	// retried.
	Notify func(Attempt)
	// Sleep defaults to SleepContext.
	Sleep Sleeper
}

// Do calls op until it succeeds, fails with a class the policy does not
// retry, the attempts are used up, or ctx is done.
//
// The exponential intervals come from github.com/cenkalti/backoff; the loop
// is ours because a wait must also honour Retry-After floors and a fixed
// throttle wait, which backoff.Retry only supports in whole seconds.
func (r Runner) Do(ctx context.Context, op func(ctx context.Context, attempt int) error) error {
	p := r.Policy
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.InitialBackoff,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.MaxBackoff,
	}
	b.Reset()
	sleep := r.Sleep
	if sleep == nil {
		sleep = SleepContext
	}
	start := time.Now()
	maxAttempts := max(p.MaxAttempts, 1)
	for attempt := 1; ; attempt++ {
		err := op(ctx, attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after attempt %d: %v)", context.Cause(ctx), attempt, err)
		}
		class := ClassOf(err)
		if !p.Retryable(class) {
			return err
		}
		if attempt >= maxAttempts {
			return &ExhaustedError{Attempts: attempt, Elapsed: time.Since(start), Last: err}
		}
		wait := r.wait(b.NextBackOff(), class, err)
		if r.Notify != nil {
			r.Notify(Attempt{Number: attempt, Err: err, Class: class, Wait: wait})
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (while waiting to retry: %v)", err, errSummary(class))
		}
	}
}

// wait decides how long to wait before the next attempt: the exponential
// interval, raised to the server's Retry-After hint when the policy honours
// it (capped by MaxRetryAfter), or, for throttling without a hint, to the
// policy's ThrottleWait.
func (r Runner) wait(exp time.Duration, class Class, err error) time.Duration {
	p := r.Policy
	var h Hinted
	if p.HonorRetryAfter && errors.As(err, &h) {
		if hint, ok := h.RetryAfter(); ok {
			if p.MaxRetryAfter > 0 {
				hint = min(hint, p.MaxRetryAfter)
			}
			return max(exp, hint)
		}
	}
	if class == Throttled {
		return max(exp, p.ThrottleWait)
	}
	return exp
}

func errSummary(c Class) string { return "last failure was " + string(c) }
