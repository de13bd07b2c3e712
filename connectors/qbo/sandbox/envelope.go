package sandbox

import (
	"strconv"
)

// Success envelopes of the query endpoint, exactly as QBO shapes them:
//
//	{"QueryResponse":{"Invoice":[...],"startPosition":1,"maxResults":2},"time":"..."}
//	{"QueryResponse":{},"time":"..."}                      (no rows: entity key absent)
//	{"QueryResponse":{"totalCount":42},"time":"..."}       (COUNT(*))
//
// maxResults is the number of rows returned, not the size requested.

// selectEnvelopeSize is the exact length appendSelectEnvelope will produce,
// so the page buffer is allocated once.
func selectEnvelopeSize(entity string, rows [][]byte, timeStr string) int {
	n := len(`{"QueryResponse":{"":[],"startPosition":,"maxResults":},"time":""}`) + len(entity) + len(timeStr) + 40
	for _, r := range rows {
		n += len(r) + 1
	}
	return n
}

// appendSelectEnvelope appends the SELECT * envelope of a page.
func appendSelectEnvelope(b []byte, entity string, rows [][]byte, start int, timeStr string) []byte {
	b = append(b, `{"QueryResponse":{`...)
	if len(rows) > 0 {
		b = append(b, '"')
		b = append(b, entity...)
		b = append(b, `":[`...)
		for i, r := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, r...)
		}
		b = append(b, `],"startPosition":`...)
		b = strconv.AppendInt(b, int64(start), 10)
		b = append(b, `,"maxResults":`...)
		b = strconv.AppendInt(b, int64(len(rows)), 10)
	}
	return appendTime(append(b, '}'), timeStr)
}

// appendCountEnvelope appends the COUNT(*) envelope.
func appendCountEnvelope(b []byte, total int, timeStr string) []byte {
	b = append(b, `{"QueryResponse":{"totalCount":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	return appendTime(append(b, '}'), timeStr)
}

// appendTime closes an envelope with ,"time":"..."}.
func appendTime(b []byte, timeStr string) []byte {
	b = append(b, `,"time":"`...)
	b = append(b, timeStr...)
	return append(b, `"}`...)
}
