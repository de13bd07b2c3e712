// Package plan splits a back-fill range into the windows a run processes.
//
// Windows are half-open intervals [Start, End) that tile the range exactly:
// the first starts at the range start, each next one starts where the
// previous ended, and the last ends at the range end. Day, week, month and
// year steps are calendar-aware in the plan's time zone.
package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unit is the unit of a Step.
type Unit int

// Step units. Minutes and hours are fixed durations; days, weeks, months and
// years follow the calendar of the plan's time zone.
const (
	Minute Unit = iota + 1
	Hour
	Day
	Week
	Month
	Year
)

var unitNames = map[string]Unit{
	"min": Minute,
	"h":   Hour,
	"d":   Day,
	"w":   Week,
	"mo":  Month,
	"y":   Year,
}

func (u Unit) String() string {
	for name, v := range unitNames {
		if v == u {
			return name
		}
	}
	return "unit(" + strconv.Itoa(int(u)) + ")"
}

// Step is the length of one window, such as 1h, 1d, 7d, 1mo or 1y.
type Step struct {
	N    int
	Unit Unit
}

// String returns the step in the form ParseStep accepts, e.g. "7d".
func (s Step) String() string { return strconv.Itoa(s.N) + s.Unit.String() }

// StepSyntaxHint describes the accepted step syntax for error messages.
const StepSyntaxHint = "a step is a positive whole number followed by min, h, d, w, mo or y, e.g. 1h, 1d, 7d, 1mo, 1y"

// ParseStep parses a step such as "1h", "7d" or "1mo".
func ParseStep(s string) (Step, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return Step{}, fmt.Errorf("invalid step %q: %s", s, StepSyntaxHint)
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil || n <= 0 || n > 100000 {
		return Step{}, fmt.Errorf("invalid step %q: %s", s, StepSyntaxHint)
	}
	unit, ok := unitNames[s[i:]]
	if !ok {
		hint := StepSyntaxHint
		if s[i:] == "m" {
			hint = `"m" is ambiguous: use "min" for minutes or "mo" for months`
		}
		return Step{}, fmt.Errorf("invalid step %q: %s", s, hint)
	}
	return Step{N: n, Unit: unit}, nil
}

// advance returns the k-th boundary after anchor (k >= 0). Boundaries are
// computed from the anchor rather than cumulatively so that month steps
// starting on the 31st land on the last day of shorter months and come back
// to the 31st afterwards, instead of drifting.
func (s Step) advance(anchor time.Time, k int, loc *time.Location) time.Time {
	n := s.N * k
	switch s.Unit {
	case Minute:
		return anchor.Add(time.Duration(n) * time.Minute)
	case Hour:
		return anchor.Add(time.Duration(n) * time.Hour)
	case Day:
		return anchor.In(loc).AddDate(0, 0, n)
	case Week:
		return anchor.In(loc).AddDate(0, 0, 7*n)
	case Month:
		return addMonthsClamped(anchor.In(loc), n)
	case Year:
		return addMonthsClamped(anchor.In(loc), 12*n)
	}
	panic("plan: unknown step unit " + s.Unit.String())
}

// addMonthsClamped adds months to t, clamping the day to the last day of the
// target month (Jan 31 + 1 month = Feb 28 or 29, not Mar 3 as time.AddDate
// would give).
func addMonthsClamped(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	first := time.Date(y, m+time.Month(months), 1, hh, mm, ss, t.Nanosecond(), t.Location())
	last := daysIn(first.Year(), first.Month())
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, hh, mm, ss, t.Nanosecond(), t.Location())
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
