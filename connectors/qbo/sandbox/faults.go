package sandbox

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Fault bodies, byte for byte in the shapes QBO uses (see
// shared/reference/qbo-api.md §1.4), and the fault-injection state.

// Fault texts.
const (
	throttleMessage = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
	throttleDetail  = "The request limit was reached.  Try again later"
	systemMessage   = "An application error has occurred while processing your request"
	systemDetail    = "System Failure Error: An unexpected error occurred while accessing or saving your data. Please wait a few minutes and try again. If the problem persists, contact customer support."
	authMessage     = "message=AuthenticationFailed; errorCode=003200; statusCode=401"
	authzMessage    = "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"
	parseMessage    = "Error parsing query"
	invalidMessage  = "Invalid query"

	contentTypeJSON = "application/json;charset=UTF-8"
	contentTypeXML  = "application/xml;charset=UTF-8"
	contentTypeHTML = "text/html;charset=UTF-8"

	// malformedBody is what a misbehaving proxy in front of QBO might send
	// with status 200.
	malformedBody = "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>" +
		"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request.</p></body></html>\n"
	// badGatewayBody answers a refresh whose response is "lost".
	badGatewayBody = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n"
)

// faultJSON renders the documented fault envelope:
// {"Fault":{"Error":[{"Message","Detail","code"}],"type"},"time"}.
func faultJSON(message, detail, code, typ, timeStr string) []byte {
	b := make([]byte, 0, 256+len(detail))
	b = append(b, `{"Fault":{"Error":[{`...)
	b = appendStringField(b, false, "Message", message)
	b = appendStringField(b, true, "Detail", detail)
	b = appendStringField(b, true, "code", code)
	b = append(b, `}],`...)
	b = appendStringField(b, false, "type", typ)
	b = append(b, '}')
	return appendTime(b, timeStr)
}

// throttleXML renders the 429 fault as the XML IntuitResponse QBO has been
// seen to send even to JSON clients.
func throttleXML(timeStr string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="` + timeStr + `">` +
		`<Fault type="SERVICE"><Error code="3001"><Message>` + throttleMessage + `</Message>` +
		`<Detail>` + throttleDetail + `</Detail></Error></Fault></IntuitResponse>`)
}

// gatewayFaultJSON renders the lower-case body the API gateway returns for
// 401 and 403, with time in epoch milliseconds.
func gatewayFaultJSON(message, detail, code, typ string, epochMillis int64) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"warnings":null,"intuitObject":null,"fault":{"error":[{`...)
	b = appendStringField(b, false, "message", message)
	b = appendStringField(b, true, "detail", detail)
	b = appendStringField(b, true, "code", code)
	b = append(b, `,"element":null}],`...)
	b = appendStringField(b, false, "type", typ)
	b = append(b, `},"report":null,"queryResponse":null,"batchItemResponse":[],"attachableResponse":[],`+
		`"syncErrorResponse":null,"requestId":null,"time":`...)
	b = strconv.AppendInt(b, epochMillis, 10)
	return append(b, `,"status":null,"cdcresponse":[]}`...)
}

// injection is what the fault knobs decided for one data request.
type injection struct {
	status    int // 0, http.StatusTooManyRequests, 500 or 503
	malformed bool
	truncated bool
	latency   time.Duration
}

// faultState holds the knobs and their counters; counters restart whenever
// the knobs are replaced.
type faultState struct {
	mu        sync.Mutex
	f         Faults
	seq       int64 // data requests seen by the knobs
	n5xx      int64 // 5xx faults injected
	mutations int   // MutateDuringPaging updates done
	refreshes int   // successful refreshes seen by LoseRefreshResponse
}

// set replaces the knobs and restarts the counters.
func (fs *faultState) set(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
	fs.seq, fs.n5xx, fs.mutations, fs.refreshes = 0, 0, 0, 0
}

// get returns the current knobs.
func (fs *faultState) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f
}

// every reports whether the n-th event is selected by an "every K-th" knob.
func every(k int, n int64) bool { return k > 0 && n%int64(k) == 0 }

// nextDataRequest counts one data request and decides its faults.
func (fs *faultState) nextDataRequest() injection {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.seq++
	n := fs.seq
	inj := injection{latency: fs.f.Latency}
	switch {
	case every(fs.f.Every429, n):
		inj.status = http.StatusTooManyRequests
	case every(fs.f.Every5xx, n):
		fs.n5xx++
		inj.status = http.StatusInternalServerError
		if fs.n5xx%2 == 0 {
			inj.status = http.StatusServiceUnavailable
		}
	case every(fs.f.EveryMalformed, n):
		inj.malformed = true
	case every(fs.f.EveryTruncated, n):
		inj.truncated = true
	}
	return inj
}

// takeMutation reports whether MutateDuringPaging still has budget, and
// consumes one unit if so.
func (fs *faultState) takeMutation() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.mutations >= fs.f.MutateDuringPaging {
		return false
	}
	fs.mutations++
	return true
}

// refreshLost counts one successful refresh and reports whether its
// response must be lost.
func (fs *faultState) refreshLost() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.refreshes++
	return fs.f.LoseRefreshResponse > 0 && fs.refreshes == fs.f.LoseRefreshResponse
}

// tokenBudget is TokenExpiresAfterRequests (0 = unlimited).
func (fs *faultState) tokenBudget() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f.TokenExpiresAfterRequests
}

// xml429 reports whether 429 bodies are XML.
func (fs *faultState) xml429() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f.XML429
}
