package qbo

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/etl-engine/etl/engine/plan"
)

// parseLoader is a loader with just what parsePage needs.
func parseLoader(cursor string) *Loader {
	l := &Loader{cfg: loaderConfig{entity: "Invoice", cursorField: cursor, pageSize: 1000}}
	l.cfg.preparePaths()
	return l
}

var parseWindow = plan.Window{Index: 0, Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)}

// within reports whether the n bytes at p lie inside b.
func within(b []byte, p *byte, n int) bool {
	start, end := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))+uintptr(len(b))
	q := uintptr(unsafe.Pointer(p))
	return q >= start && q+uintptr(n) <= end
}

// TestParsePageReadsBodyInPlace: payloads are the records' exact bytes,
// sliced from the body; ids and versions are copies, so that the engine's
// per-window sets do not keep responses alive; keys are found in any
// order, the first occurrence winning as with gjson.Get.
func TestParsePageReadsBodyInPlace(t *testing.T) {
	recs := []string{
		`{"Id":"1","SyncToken":"0","MetaData":{"LastUpdatedTime":"2024-01-02T00:00:00Z"},"Line":[{"Id":"9"}]}`,
		`{"MetaData":{"CreateTime":"x","LastUpdatedTime":"2024-01-03T00:00:00-08:00"},"SyncToken":"3","Note":"Id","Id":"22","Id":"dup"}`,
	}
	body := []byte(`{"QueryResponse":{"Invoice":[` + strings.Join(recs, ",") + `],"startPosition":1,"maxResults":2},"time":"t"}`)
	got, err := parseLoader("MetaData.LastUpdatedTime").parsePage(&response{body: body}, parseWindow.Start, parseWindow)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d records, want 2", len(got))
	}
	want := []struct {
		id, version string
		at          time.Time
	}{
		{"1", "0", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"22", "3", time.Date(2024, 1, 3, 8, 0, 0, 0, time.UTC)},
	}
	for i, r := range got {
		if r.ID != want[i].id || r.Version != want[i].version || !r.UpdatedAt.Equal(want[i].at) {
			t.Errorf("record %d: id %q version %q at %s, want %+v", i, r.ID, r.Version, r.UpdatedAt, want[i])
		}
		if string(r.Payload) != recs[i] {
			t.Errorf("record %d payload %s, want %s", i, r.Payload, recs[i])
		}
		if !within(body, unsafe.SliceData(r.Payload), len(r.Payload)) || cap(r.Payload) != len(r.Payload) {
			t.Errorf("record %d: payload is not a capped sub-slice of the body", i)
		}
		if within(body, unsafe.StringData(r.ID), len(r.ID)) || within(body, unsafe.StringData(r.Version), len(r.Version)) {
			t.Errorf("record %d: id or version points into the body", i)
		}
	}
}

// TestParsePageCursorForms: a top-level cursor field, a nested one, and
// one whose key holds an escaped dot (read through the full path).
func TestParsePageCursorForms(t *testing.T) {
	for _, tc := range []struct{ cursor, record string }{
		{"Updated", `{"Id":"1","Updated":"2024-01-05T00:00:00Z"}`},
		{"MetaData.LastUpdatedTime", `{"Id":"1","MetaData":{"LastUpdatedTime":"2024-01-05T00:00:00Z"}}`},
		{`Meta\.Data`, `{"Id":"1","Meta.Data":"2024-01-05T00:00:00Z"}`},
	} {
		body := []byte(`{"QueryResponse":{"Invoice":[` + tc.record + `]}}`)
		got, err := parseLoader(tc.cursor).parsePage(&response{body: body}, parseWindow.Start, parseWindow)
		if err != nil {
			t.Errorf("cursor %s: %v", tc.cursor, err)
			continue
		}
		if len(got) != 1 || !got[0].UpdatedAt.Equal(time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC)) || got[0].Version != "" {
			t.Errorf("cursor %s: %+v", tc.cursor, got)
		}
	}
}

// TestParsePageMalformed keeps the messages of a malformed envelope.
func TestParsePageMalformed(t *testing.T) {
	for body, want := range map[string]string{
		`{"Fault":{}}`:                             "no QueryResponse object",
		`{"QueryResponse":[]}`:                     "no QueryResponse object",
		`{"QueryResponse":{"Invoice":{}}}`:         "is not a list",
		`{"QueryResponse":{"Invoice":[{"Id":1}]}}`: "no string Id",
	} {
		_, err := parseLoader("MetaData.LastUpdatedTime").parsePage(&response{body: []byte(body)}, parseWindow.Start, parseWindow)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", body, err, want)
		}
	}
	got, err := parseLoader("MetaData.LastUpdatedTime").parsePage(&response{body: []byte(`{"QueryResponse":{}}`)}, parseWindow.Start, parseWindow)
	if err != nil || len(got) != 0 {
		t.Errorf("empty response: %v, %v", got, err)
	}
}

// TestReadBody reads everything whatever the size hint says.
func TestReadBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	for _, hint := range []int64{-1, 0, 10, int64(len(data)), int64(len(data)) + 5000} {
		got, err := readBody(iotest.HalfReader(bytes.NewReader(data)), hint)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("hint %d: %d bytes, %v", hint, len(got), err)
		}
	}
	if _, err := readBody(iotest.ErrReader(io.ErrUnexpectedEOF), 10); err != io.ErrUnexpectedEOF {
		t.Errorf("error %v, want unexpected EOF", err)
	}
}
