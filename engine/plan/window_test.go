package plan

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseStep(t *testing.T) {
	tests := []struct {
		in      string
		want    Step
		wantErr string
	}{
		{in: "1h", want: Step{1, Hour}},
		{in: "15min", want: Step{15, Minute}},
		{in: "1d", want: Step{1, Day}},
		{in: "7d", want: Step{7, Day}},
		{in: "2w", want: Step{2, Week}},
		{in: "1mo", want: Step{1, Month}},
		{in: "3mo", want: Step{3, Month}},
		{in: "1y", want: Step{1, Year}},
		{in: "1m", wantErr: `"m" is ambiguous`},
		{in: "0d", wantErr: "positive whole number"},
		{in: "d", wantErr: "positive whole number"},
		{in: "1 day", wantErr: "positive whole number"},
		{in: "P1D", wantErr: "positive whole number"},
		{in: "-1h", wantErr: "positive whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStep(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStep(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStep(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseStep(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestWindows(t *testing.T) {
	guayaquil, err := time.LoadLocation("America/Guayaquil")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		start string
		end   string
		step  string
		loc   *time.Location
		want  []string // window starts, then the final end
	}{
		{
			name: "months clamp to month end and come back", start: "2024-01-31T00:00:00Z", end: "2024-05-01T00:00:00Z", step: "1mo",
			want: []string{"2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z", "2024-04-30T00:00:00Z", "2024-05-01T00:00:00Z"},
		},
		{
			name: "non-leap february", start: "2023-01-31T00:00:00Z", end: "2023-03-15T00:00:00Z", step: "1mo",
			want: []string{"2023-01-31T00:00:00Z", "2023-02-28T00:00:00Z", "2023-03-15T00:00:00Z"},
		},
		{
			name: "years from a leap day", start: "2020-02-29T00:00:00Z", end: "2025-01-01T00:00:00Z", step: "2y",
			want: []string{"2020-02-29T00:00:00Z", "2022-02-28T00:00:00Z", "2024-02-29T00:00:00Z", "2025-01-01T00:00:00Z"},
		},
		{
			name: "last window shortened", start: "2024-01-01T00:00:00Z", end: "2024-01-20T00:00:00Z", step: "7d",
			want: []string{"2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z", "2024-01-20T00:00:00Z"},
		},
		{
			name: "single window larger than range", start: "2024-01-01T00:00:00Z", end: "2024-01-01T05:00:00Z", step: "1d",
			want: []string{"2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z"},
		},
		{
			name: "hours ignore offsets of the input", start: "2024-01-01T00:00:00-05:00", end: "2024-01-01T08:00:00Z", step: "1h",
			want: []string{"2024-01-01T05:00:00Z", "2024-01-01T06:00:00Z", "2024-01-01T07:00:00Z", "2024-01-01T08:00:00Z"},
		},
		{
			name: "days in Guayaquil keep local midnight", start: "2024-03-01T05:00:00Z", end: "2024-03-03T05:00:00Z", step: "1d", loc: guayaquil,
			want: []string{"2024-03-01T05:00:00Z", "2024-03-02T05:00:00Z", "2024-03-03T05:00:00Z"},
		},
		{
			name: "days across a DST change are 23 and 25 hours long", start: "2024-03-09T05:00:00Z", end: "2024-03-12T04:00:00Z", step: "1d", loc: newYork,
			want: []string{"2024-03-09T05:00:00Z", "2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z", "2024-03-12T04:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, err := ParseStep(tt.step)
			if err != nil {
				t.Fatal(err)
			}
			ws, err := Windows(Spec{Start: mustTime(t, tt.start), End: mustTime(t, tt.end), Step: step, Location: tt.loc})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, w := range ws {
				if w.Index != i {
					t.Errorf("window %d has Index %d", i, w.Index)
				}
				got = append(got, w.Start.Format(time.RFC3339))
			}
			got = append(got, ws[len(ws)-1].End.Format(time.RFC3339))
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("boundaries\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestWindowsErrors(t *testing.T) {
	start := mustTime(t, "2024-01-01T00:00:00Z")
	if _, err := Windows(Spec{Start: start, End: start, Step: Step{1, Day}}); err == nil || !strings.Contains(err.Error(), "end must be after start") {
		t.Fatalf("equal bounds: err = %v", err)
	}
	if _, err := Windows(Spec{Start: start, End: start.Add(-time.Hour), Step: Step{1, Day}}); err == nil {
		t.Fatal("reversed bounds: no error")
	}
	if _, err := Windows(Spec{Start: start, End: start.AddDate(10, 0, 0), Step: Step{1, Minute}}); err == nil || !strings.Contains(err.Error(), "use a larger step") {
		t.Fatalf("too many windows: err = %v", err)
	}
}

func TestWindowString(t *testing.T) {
	w := Window{Start: mustTime(t, "2024-01-01T00:00:00-05:00"), End: mustTime(t, "2024-01-02T00:00:00Z")}
	if got, want := w.String(), "[2024-01-01T05:00:00Z, 2024-01-02T00:00:00Z)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
