package qbo

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/etl-engine/etl/engine/retry"
)

// Error is a failed QBO request. It carries where it happened (entity,
// window, page) and Intuit's transaction id, and never a token or secret.
type Error struct {
	Class     retry.Class
	Status    int    // HTTP status, 0 for transport errors
	Code      string // QBO fault code, e.g. 3001
	Message   string
	Entity    string
	Window    string
	Page      int
	IntuitTID string
	// Hint tells the user what to do, when there is something to do.
	Hint string
	// retryAfter is the server's Retry-After, if any.
	retryAfter time.Duration
	hasRetry   bool
	err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("qbo")
	if e.Entity != "" {
		b.WriteString(" " + e.Entity)
	}
	if e.Window != "" {
		b.WriteString(" window " + e.Window)
	}
	if e.Page > 0 {
		fmt.Fprintf(&b, " page %d", e.Page)
	}
	b.WriteString(": ")
	if e.Status > 0 {
		fmt.Fprintf(&b, "HTTP %d ", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, "(fault %s) ", e.Code)
	}
	b.WriteString(e.Message)
	if e.IntuitTID != "" {
		b.WriteString(" [intuit_tid " + e.IntuitTID + "]")
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying transport error, if any.
func (e *Error) Unwrap() error { return e.err }

// RetryClass implements retry.Classified.
func (e *Error) RetryClass() retry.Class { return e.Class }

// RetryAfter implements retry.Hinted.
func (e *Error) RetryAfter() (time.Duration, bool) { return e.retryAfter, e.hasRetry }

// classifyStatus maps an HTTP status and QBO fault code to a class and a
// hint. Intuit's fault code and HTTP status disagree often enough (a
// throttle fault has come back as 403) that both are checked.
func classifyStatus(status int, code string) (retry.Class, string) {
	code = strings.TrimLeft(code, "0")
	switch {
	case code == "3001" || status == http.StatusTooManyRequests:
		return retry.Throttled, ""
	case status == http.StatusUnauthorized || code == "3200":
		return retry.Reauthorize, "the access token was refused even after a refresh; re-authorise the app for this company"
	case code == "3100" || status == http.StatusForbidden:
		return retry.Permanent, "the app is not authorised for this company: check that QBO_ENV (sandbox or production) matches the app's keys and the realm id"
	case code == "3201":
		return retry.Reauthorize, "the app's access to this company was revoked; re-authorise it"
	case status >= 500:
		return retry.ServerError, ""
	case status == http.StatusRequestTimeout:
		return retry.Timeout, ""
	}
	return retry.Permanent, ""
}

// transportError classifies an error from the HTTP client.
func transportError(err error) *Error {
	e := &Error{Class: retry.Network, Message: err.Error(), err: err}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		e.Class = retry.Timeout
	}
	return e
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(h); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
