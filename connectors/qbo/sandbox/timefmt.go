package sandbox

import (
	"fmt"
	"time"
	_ "time/tzdata" // fallback zone data when the host has none (e.g. scratch images)
)

// QBO renders MetaData times and response times in Pacific time with the
// offset in force at that instant (-08:00 or -07:00).
const (
	pacificZone        = "America/Los_Angeles"
	layoutMetaTime     = "2006-01-02T15:04:05-07:00"
	layoutResponseTime = "2006-01-02T15:04:05.000-07:00"
	layoutDate         = "2006-01-02"
	secondsPerDay      = 86400
)

// loadPacific returns the America/Los_Angeles location.
func loadPacific() (*time.Location, error) {
	loc, err := time.LoadLocation(pacificZone)
	if err != nil {
		return nil, fmt.Errorf("sandbox: load time zone %s: %w", pacificZone, err)
	}
	return loc, nil
}

// civilDay converts the calendar date of t (in t's own location) to days
// since 1970-01-01.
func civilDay(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay)
}

// appendDay appends a day number (see civilDay) as YYYY-MM-DD.
func appendDay(b []byte, day int32) []byte {
	return time.Unix(int64(day)*secondsPerDay, 0).UTC().AppendFormat(b, layoutDate)
}
