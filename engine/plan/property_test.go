package plan

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestWindowsTileTheRange checks, for random ranges, steps and time zones
// (month ends, leap years, DST), that windows have no gap and no overlap and
// cover exactly [start, end).
func TestWindowsTileTheRange(t *testing.T) {
	zones := []string{"UTC", "America/Guayaquil", "America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Lord_Howe"}
	locs := make([]*time.Location, len(zones))
	for i, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		locs[i] = loc
	}
	units := []Unit{Minute, Hour, Day, Week, Month, Year}
	base := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

	rapid.Check(t, func(t *rapid.T) {
		loc := rapid.SampledFrom(locs).Draw(t, "loc")
		unit := rapid.SampledFrom(units).Draw(t, "unit")
		n := rapid.IntRange(1, 13).Draw(t, "n")
		// Starts on month ends and leap days are drawn often on purpose.
		startDays := rapid.OneOf(
			rapid.IntRange(0, 4000),
			rapid.SampledFrom([]int{30, 58, 59, 1154, 1155, 1185, 2980, 3315}),
		).Draw(t, "startDays")
		startSecs := rapid.IntRange(0, 86399).Draw(t, "startSecs")
		start := base.AddDate(0, 0, startDays).Add(time.Duration(startSecs) * time.Second)
		var maxSpan int64
		switch unit {
		case Minute:
			maxSpan = int64(3 * 24 * time.Hour)
		case Hour:
			maxSpan = int64(60 * 24 * time.Hour)
		default:
			maxSpan = int64(6 * 365 * 24 * time.Hour)
		}
		span := time.Duration(rapid.Int64Range(1, maxSpan).Draw(t, "span"))
		end := start.Add(span)
		step := Step{N: n, Unit: unit}

		ws, err := Windows(Spec{Start: start, End: end, Step: step, Location: loc})
		if err != nil {
			t.Fatalf("Windows: %v", err)
		}
		if len(ws) == 0 {
			t.Fatal("no windows")
		}
		if !ws[0].Start.Equal(start) {
			t.Fatalf("first window starts at %s, want %s", ws[0].Start, start)
		}
		if !ws[len(ws)-1].End.Equal(end) {
			t.Fatalf("last window ends at %s, want %s", ws[len(ws)-1].End, end)
		}
		var covered time.Duration
		for i, w := range ws {
			if w.Index != i {
				t.Fatalf("window %d has Index %d", i, w.Index)
			}
			if !w.End.After(w.Start) {
				t.Fatalf("window %d is empty or reversed: %s", i, w)
			}
			if w.Start.Location() != time.UTC || w.End.Location() != time.UTC {
				t.Fatalf("window %d not in UTC: %s", i, w)
			}
			if i > 0 && !ws[i-1].End.Equal(w.Start) {
				t.Fatalf("gap or overlap between window %d %s and %d %s", i-1, ws[i-1], i, w)
			}
			covered += w.End.Sub(w.Start)
			// Every window but the last spans exactly one step from the anchor.
			if i < len(ws)-1 {
				if want := step.advance(start, i+1, loc).UTC(); !w.End.Equal(want) {
					t.Fatalf("window %d ends at %s, want %s", i, w.End, want)
				}
			}
		}
		if covered != end.Sub(start) {
			t.Fatalf("windows cover %s, range is %s", covered, end.Sub(start))
		}
		// Calendar steps keep the local wall-clock time of the start where it exists.
		if unit == Month || unit == Year {
			for _, w := range ws[1:] {
				ls, ws0 := w.Start.In(loc), start.In(loc)
				if ls.Day() > ws0.Day() {
					t.Fatalf("month step moved day forward: %s from %s", ls, ws0)
				}
			}
		}
	})
}
