package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseTimestamp parses an instant written as RFC 3339 with an explicit
// offset (Z or ±hh:mm). Timestamps without an offset are refused: guessing a
// time zone is how back-fills silently miss hours.
func ParseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		return checkOffset(s, t)
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if _, err2 := time.Parse(layout, s); err2 == nil {
			return time.Time{}, fmt.Errorf("timestamp %q has no UTC offset", s)
		}
	}
	if t2, err2 := time.Parse("2006-01-02 15:04:05Z07:00", s); err2 == nil {
		return checkOffset(s, t2)
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp", s)
}

// checkOffset refuses offsets of 24 hours or more, which time.Parse lets
// through but RFC 3339 does not allow.
func checkOffset(s string, t time.Time) (time.Time, error) {
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return time.Time{}, fmt.Errorf("timestamp %q: offset %s is out of range", s, t.Format("-07:00"))
	}
	return t, nil
}

// TimestampHint explains the accepted timestamp form.
const TimestampHint = "write an instant with its offset, e.g. 2024-01-01T00:00:00Z for UTC or 2024-01-01T00:00:00-05:00 for America/Guayaquil"

// ParseDuration parses a Go duration that must be positive.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return d, nil
}

// DurationHint explains the accepted duration form.
const DurationHint = "durations are a number and a unit: ms, s, m or h, e.g. 500ms, 30s, 2m, 1h30m"

// MaxIdentifierLen is PostgreSQL's NAMEDATALEN-1: longer names are silently
// truncated by the server, so two long names could collide.
const MaxIdentifierLen = 63

var identifierPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// ValidateIdentifier checks a schema or table name from a pipeline file: it
// must be a plain lower-case identifier of at most 63 bytes, so that it
// needs no quoting rules to be understood and cannot smuggle SQL. It is
// still quoted when used.
func ValidateIdentifier(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("identifier is empty")
	case len(s) > MaxIdentifierLen:
		return fmt.Errorf("identifier %q is %d bytes long; PostgreSQL keeps only %d", truncate(s, 20), len(s), MaxIdentifierLen)
	case strings.ContainsAny(s, "\"';\\\x00") || strings.Contains(s, "--"):
		return fmt.Errorf("identifier %q contains quotes, semicolons or comment markers", s)
	case !identifierPattern.MatchString(s):
		return fmt.Errorf("identifier %q must be lower-case letters, digits and underscores, not starting with a digit", s)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// coerceInt accepts an integer, or a string of digits (from an environment
// variable or the command line).
func coerceInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if x == float64(int64(x)) {
			return int64(x), nil
		}
		return 0, fmt.Errorf("%v is not a whole number", x)
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", x)
		}
		return i, nil
	}
	return 0, fmt.Errorf("expected an integer, got %s", typeName(v))
}

func coerceBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("%q is not true or false", x)
		}
		return b, nil
	}
	return false, fmt.Errorf("expected true or false, got %s", typeName(v))
}

func coerceString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64, float64, bool:
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("expected a string, got %s", typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return "a string"
	case int64, int:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
