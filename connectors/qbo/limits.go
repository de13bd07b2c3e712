package qbo

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
)

// realmLimits bounds the requests one process sends to one QBO company:
// a token bucket for requests per minute and a semaphore for requests in
// flight. QBO counts both per realm and app, so every loader of a realm in
// the process shares them.
type realmLimits struct {
	rate     *rate.Limiter
	inFlight *semaphore.Weighted
	rpm, max int
}

// limitsRegistry holds the limits of each realm; it is the only
// process-wide state of the connector, a registry like the component one.
var limitsRegistry = struct {
	sync.Mutex
	byRealm map[string]*realmLimits
}{byRealm: map[string]*realmLimits{}}

// limitsFor returns the limits shared by the loaders of realm that ask for
// the same rates (normally all of them: the rates come from the pipeline
// files, which set QBO's).
func limitsFor(realm string, rpm, maxInFlight int) *realmLimits {
	limitsRegistry.Lock()
	defer limitsRegistry.Unlock()
	key := fmt.Sprintf("%s/%d/%d", realm, rpm, maxInFlight)
	if l, ok := limitsRegistry.byRealm[key]; ok {
		return l
	}
	burst := max(1, min(maxInFlight, rpm/60))
	l := &realmLimits{
		rate:     rate.NewLimiter(rate.Limit(float64(rpm)/60), burst),
		inFlight: semaphore.NewWeighted(int64(maxInFlight)),
		rpm:      rpm, max: maxInFlight,
	}
	limitsRegistry.byRealm[key] = l
	return l
}

// acquire waits for a request slot; release must be called after the
// response body is read.
func (l *realmLimits) acquire(ctx context.Context) (release func(), err error) {
	if err := l.inFlight.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	if err := l.rate.Wait(ctx); err != nil {
		l.inFlight.Release(1)
		return nil, err
	}
	return func() { l.inFlight.Release(1) }, nil
}
