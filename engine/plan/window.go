package plan

import (
	"errors"
	"fmt"
	"time"
)

// MaxWindows bounds the number of windows one plan may hold, so that a typo
// such as a 1min step over ten years fails fast instead of exhausting memory.
const MaxWindows = 200000

// Window is one half-open interval [Start, End) of a plan, in UTC.
type Window struct {
	// Index is the window's position in the plan, starting at 0.
	Index int
	Start time.Time
	End   time.Time
}

// String renders the window as "[start, end)" in RFC 3339 UTC.
func (w Window) String() string {
	return "[" + w.Start.UTC().Format(time.RFC3339) + ", " + w.End.UTC().Format(time.RFC3339) + ")"
}

// Spec describes a range to split.
type Spec struct {
	Start time.Time
	End   time.Time
	Step  Step
	// Location is the calendar used for day, week, month and year steps.
	// Nil means UTC.
	Location *time.Location
}

// ErrEmptyRange is returned when End is not after Start.
var ErrEmptyRange = errors.New("plan: end must be after start")

// Windows splits [spec.Start, spec.End) into windows of spec.Step. The last
// window is shortened to end exactly at spec.End. All times are returned in
// UTC.
func Windows(spec Spec) ([]Window, error) {
	if !spec.End.After(spec.Start) {
		return nil, fmt.Errorf("%w (start %s, end %s)", ErrEmptyRange,
			spec.Start.UTC().Format(time.RFC3339), spec.End.UTC().Format(time.RFC3339))
	}
	if spec.Step.N <= 0 {
		return nil, fmt.Errorf("plan: invalid step %q", spec.Step)
	}
	loc := spec.Location
	if loc == nil {
		loc = time.UTC
	}
	var out []Window
	prev := spec.Start
	for k := 1; ; k++ {
		next := spec.Step.advance(spec.Start, k, loc)
		if !next.After(prev) {
			// Cannot happen for positive steps; guard against an infinite loop.
			return nil, fmt.Errorf("plan: step %s does not advance past %s", spec.Step, prev.UTC().Format(time.RFC3339))
		}
		if !next.Before(spec.End) {
			next = spec.End
		}
		out = append(out, Window{Index: len(out), Start: prev.UTC(), End: next.UTC()})
		if next.Equal(spec.End) {
			return out, nil
		}
		if len(out) >= MaxWindows {
			return nil, fmt.Errorf("plan: more than %d windows of %s between %s and %s; use a larger step",
				MaxWindows, spec.Step, spec.Start.UTC().Format(time.RFC3339), spec.End.UTC().Format(time.RFC3339))
		}
		prev = next
	}
}
