package sandbox

import (
	"net/http"
	"sync"
	"time"
)

// Stats are counters of what the server saw, for tests and scripts
// (GET /_sandbox/stats). Token values never appear; tokens are identified
// by their issue order.
type Stats struct {
	// DataRequests counts every request to the query endpoint, whatever its
	// outcome.
	DataRequests int64 `json:"data_requests"`
	// SelectQueries and CountQueries count answered SELECT * and
	// SELECT COUNT(*) queries (status 200).
	SelectQueries int64 `json:"select_queries"`
	CountQueries  int64 `json:"count_queries"`
	// RecordsServed is the number of entity rows sent in SELECT * pages
	// (truncated pages included).
	RecordsServed int64 `json:"records_served"`
	// Status200 … Status5xx count query-endpoint responses by status.
	Status200 int64 `json:"status_200"`
	Status400 int64 `json:"status_400"`
	Status401 int64 `json:"status_401"`
	Status403 int64 `json:"status_403"`
	Status429 int64 `json:"status_429"`
	Status5xx int64 `json:"status_5xx"`
	// Throttled429InFlight and Throttled429PerMinute count 429s from the
	// real limits (injected 429s are only in Status429).
	Throttled429InFlight  int64 `json:"throttled_429_in_flight"`
	Throttled429PerMinute int64 `json:"throttled_429_per_minute"`
	// Truncated and Malformed count injected broken 200 responses.
	Truncated int64 `json:"truncated"`
	Malformed int64 `json:"malformed"`
	// Mutations counts records updated by MutateDuringPaging or Update.
	Mutations int64 `json:"mutations"`
	// Refreshes counts successful refresh grants (lost responses included);
	// RefreshFailures counts token requests answered 400 or 401;
	// LostRefreshResponses counts rotations answered 502.
	Refreshes            int64 `json:"refreshes"`
	RefreshFailures      int64 `json:"refresh_failures"`
	LostRefreshResponses int64 `json:"lost_refresh_responses"`
	// InFlight is the number of data requests being served now;
	// MaxInFlightSeen the most ever seen at once (refused ones included);
	// MaxPerMinuteSeen the most data requests seen in any sliding minute.
	InFlight         int64 `json:"in_flight"`
	MaxInFlightSeen  int64 `json:"max_in_flight_seen"`
	MaxPerMinuteSeen int64 `json:"max_per_minute_seen"`
	// PerToken describes every access token issued, in issue order.
	PerToken []TokenStats `json:"per_token"`
}

// TokenStats describes one issued access token.
type TokenStats struct {
	// Seq is the 1-based issue order.
	Seq       int       `json:"seq"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Requests counts data requests the token authenticated; Rejected
	// counts data requests refused because it had expired.
	Requests int64 `json:"requests"`
	Rejected int64 `json:"rejected"`
}

// counters is the mutable part of Stats.
type counters struct {
	mu sync.Mutex
	s  Stats
}

// add applies f to the counters under the lock.
func (c *counters) add(f func(*Stats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.s)
}

// status counts one query-endpoint response.
func (c *counters) status(code int) {
	c.add(func(s *Stats) {
		switch {
		case code == http.StatusOK:
			s.Status200++
		case code == http.StatusBadRequest:
			s.Status400++
		case code == http.StatusUnauthorized:
			s.Status401++
		case code == http.StatusForbidden:
			s.Status403++
		case code == http.StatusTooManyRequests:
			s.Status429++
		case code >= 500:
			s.Status5xx++
		}
	})
}

// snapshot copies the counters.
func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}
