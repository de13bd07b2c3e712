package qbo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/etl-engine/etl/engine/retry"
)

// client sends queries to one realm, with authentication, limits, retries
// and a cap on response size.
type client struct {
	http        *http.Client
	baseURL     string
	realm       string
	minor       int64
	maxBody     int64
	reqTimeout  time.Duration
	tokens      *TokenSource
	limits      *realmLimits
	runner      retry.Runner
	userAgent   string
	now         func() time.Time
	entity      string
	onThrottled func()
}

// response is a successful query response: its body, validated as JSON.
type response struct {
	body      []byte
	intuitTID string
}

// query runs a statement with the pipeline's retry policy. where describes
// the window and page for errors.
func (c *client) query(ctx context.Context, stmt, window string, page int) (*response, int, error) {
	var res *response
	attempts := 0
	err := c.runner.Do(ctx, func(ctx context.Context, attempt int) error {
		attempts = attempt
		r, err := c.queryOnce(ctx, stmt)
		if err != nil {
			var qe *Error
			if errors.As(err, &qe) {
				qe.Entity, qe.Window, qe.Page = c.entity, window, page
				if qe.Class == retry.Throttled && c.onThrottled != nil {
					c.onThrottled()
				}
			}
			return err
		}
		res = r
		return nil
	})
	return res, attempts - 1, err
}

// queryOnce sends one request. A 401 gets one token refresh and one
// immediate retry; a second 401 is final.
func (c *client) queryOnce(ctx context.Context, stmt string) (*response, error) {
	token, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.send(ctx, stmt, token)
	var qe *Error
	if err != nil && errors.As(err, &qe) && qe.Status == http.StatusUnauthorized {
		token, err = c.tokens.Invalidate(ctx, token)
		if err != nil {
			return nil, err
		}
		res, err = c.send(ctx, stmt, token)
	}
	return res, err
}

func (c *client) send(ctx context.Context, stmt, token string) (*response, error) {
	release, err := c.limits.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if c.reqTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.reqTimeout)
		defer cancel()
	}
	u := c.baseURL + "/v3/company/" + url.PathEscape(c.realm) + "/query?" +
		url.Values{"query": {stmt}, "minorversion": {fmt.Sprint(c.minor)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &Error{Class: retry.Permanent, Message: "building the request: " + err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return nil, context.Cause(ctx)
		}
		te := transportError(err)
		te.Message = stripURL(err)
		return nil, te
	}
	defer resp.Body.Close()
	tid := resp.Header.Get("intuit_tid")
	body, err := readBody(io.LimitReader(resp.Body, c.maxBody+1), min(resp.ContentLength, c.maxBody+1))
	if err != nil {
		te := transportError(err)
		te.Message, te.IntuitTID = "reading the response: "+stripURL(err), tid
		return nil, te
	}
	if int64(len(body)) > c.maxBody {
		return nil, &Error{Class: retry.Permanent, Status: resp.StatusCode, IntuitTID: tid,
			Message: fmt.Sprintf("response larger than %d bytes", c.maxBody), Hint: "lower page_size or raise max_response_bytes"}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError(resp, body, tid)
	}
	if !gjson.ValidBytes(body) {
		return nil, &Error{Class: retry.Malformed, Status: resp.StatusCode, IntuitTID: tid,
			Message: fmt.Sprintf("response is not valid JSON (%d bytes, Content-Type %q)", len(body), resp.Header.Get("Content-Type"))}
	}
	// QBO may answer 200 with a Fault. Looking the key up scans the whole
	// body, so it is only done when the word occurs at all (or when an
	// escape could spell it).
	if mayHoldFault(body) && gjson.GetBytes(body, "Fault").Exists() {
		code, msg := faultDetail(body)
		class, hint := classifyStatus(0, code)
		return nil, &Error{Class: class, Status: resp.StatusCode, Code: code, IntuitTID: tid, Message: msg, Hint: hint}
	}
	return &response{body: body, intuitTID: tid}, nil
}

// mayHoldFault reports whether body could have a top-level Fault key.
func mayHoldFault(body []byte) bool {
	return bytes.Contains(body, []byte("Fault")) || bytes.Contains(body, []byte(`\u`))
}

// readBody reads r to the end into a buffer sized from size, the
// response's Content-Length (-1 when unknown): a 1.5 MB page is then read
// with one allocation instead of io.ReadAll's twenty-odd growing copies.
func readBody(r io.Reader, size int64) ([]byte, error) {
	n := 512
	if size > 0 {
		n = int(size) + 1 // one spare byte: EOF is seen without growing
	}
	b := make([]byte, 0, n)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// statusError builds the error of a non-200 response from its fault body
// (JSON with Fault or fault, or XML), without echoing anything that could
// be a credential.
func (c *client) statusError(resp *http.Response, body []byte, tid string) error {
	code, msg := faultDetail(body)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	class, hint := classifyStatus(resp.StatusCode, code)
	e := &Error{Class: class, Status: resp.StatusCode, Code: code, IntuitTID: tid, Message: msg, Hint: hint}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Hint = "" // the caller refreshes once before deciding
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		e.retryAfter, e.hasRetry = d, true
	}
	return e
}

// fault matches both the documented Fault/Error/Message shape and the
// lower-case gateway shape: encoding/json matches keys case-insensitively.
type fault struct {
	Fault struct {
		Error []struct {
			Message string `json:"Message"`
			Detail  string `json:"Detail"`
			Code    string `json:"code"`
		} `json:"Error"`
		Type string `json:"type"`
	} `json:"Fault"`
}

// faultDetail extracts the first fault's code and message from a JSON or
// XML fault body.
func faultDetail(body []byte) (code, msg string) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '<' {
		code = xmlAttr(string(trimmed), `code="`)
		msg = xmlElem(string(trimmed), "Message")
		if d := xmlElem(string(trimmed), "Detail"); d != "" {
			msg += ": " + d
		}
		return code, limit(msg)
	}
	var f fault
	if err := json.Unmarshal(body, &f); err != nil || len(f.Fault.Error) == 0 {
		return "", ""
	}
	e := f.Fault.Error[0]
	msg = e.Message
	if e.Detail != "" && !strings.HasPrefix(e.Detail, "Token") {
		msg += ": " + e.Detail
	}
	return e.Code, limit(msg)
}

func xmlAttr(s, prefix string) string {
	i := strings.Index(s, prefix)
	if i < 0 {
		return ""
	}
	rest := s[i+len(prefix):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}

func xmlElem(s, name string) string {
	open := "<" + name + ">"
	i := strings.Index(s, open)
	if i < 0 {
		return ""
	}
	rest := s[i+len(open):]
	j := strings.Index(rest, "</"+name+">")
	if j < 0 {
		return ""
	}
	return strings.TrimSpace(rest[:j])
}

func limit(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// stripURL removes the request URL from a transport error: it holds the
// query, which is harmless, but keeping errors short keeps logs readable.
func stripURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
