package sandbox

import (
	"sync"
	"time"
)

// QBO throttles each realm (per app) at 500 requests in a minute and 10
// concurrent requests; a request above either limit gets 429 ThrottleExceeded
// with no Retry-After header.

// limitReason says which limit refused a request.
type limitReason int

const (
	limitNone limitReason = iota
	limitInFlight
	limitPerMinute
)

// timeQueue is a FIFO of instants (Unix nanoseconds) kept for one minute.
type timeQueue struct {
	at   []int64
	head int
}

// trim drops instants at or before cutoff and returns how many remain.
func (q *timeQueue) trim(cutoff int64) int {
	for q.head < len(q.at) && q.at[q.head] <= cutoff {
		q.head++
	}
	if q.head > 1024 && q.head*2 > len(q.at) {
		q.at = append(q.at[:0], q.at[q.head:]...)
		q.head = 0
	}
	return len(q.at) - q.head
}

func (q *timeQueue) push(t int64) { q.at = append(q.at, t) }

// limiter enforces both limits for the served realm and records the
// highest load it observed.
type limiter struct {
	mu          sync.Mutex
	perMinute   int // <0: unlimited
	maxInFlight int // <0: unlimited
	inFlight    int
	admitted    timeQueue // admitted requests of the last minute
	attempts    timeQueue // every request that reached the limiter

	maxInFlightSeen  int
	maxPerMinuteSeen int
}

// acquire admits or refuses one data request at instant now. When admitted,
// the caller must call release once the response is written.
func (l *limiter) acquire(now time.Time) limitReason {
	l.mu.Lock()
	defer l.mu.Unlock()
	ns := now.UnixNano()
	cutoff := ns - int64(time.Minute)
	l.attempts.push(ns)
	l.maxPerMinuteSeen = max(l.maxPerMinuteSeen, l.attempts.trim(cutoff))
	l.inFlight++
	l.maxInFlightSeen = max(l.maxInFlightSeen, l.inFlight)
	if l.maxInFlight >= 0 && l.inFlight > l.maxInFlight {
		l.inFlight--
		return limitInFlight
	}
	if l.perMinute >= 0 && l.admitted.trim(cutoff) >= l.perMinute {
		l.inFlight--
		return limitPerMinute
	}
	l.admitted.push(ns)
	return limitNone
}

// release ends an admitted request.
func (l *limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
}

// snapshot returns the current and peak load.
func (l *limiter) snapshot() (inFlight, maxInFlightSeen, maxPerMinuteSeen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight, l.maxInFlightSeen, l.maxPerMinuteSeen
}
