package sandbox

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// The query endpoint: GET /v3/company/{realm}/query?query=... or POST with
// the statement as an application/text body. The order of checks is
// authentication (401/403), the realm limits (429), injected faults, then
// the query itself (400 on a bad statement).

const maxQueryBytes = 1 << 20

// handleQuery serves one data request.
func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) {
	s.stats.add(func(st *Stats) { st.DataRequests++ })
	realm := r.PathValue("realm")
	now := s.now()
	switch outcome, fp := s.auth.authenticate(r.Header.Get("Authorization"), realm, now, s.faults.tokenBudget()); outcome {
	case authMissing:
		s.unauthorized(w, now, "Malformed bearer token: too short or too long")
		return
	case authInvalid:
		s.unauthorized(w, now, "Token expired: "+fp)
		return
	case authWrongRealm:
		s.forbidden(w, now, realm)
		return
	}
	switch s.limits.acquire(now) {
	case limitInFlight:
		s.stats.add(func(st *Stats) { st.Throttled429InFlight++ })
		s.throttled(w, now)
		return
	case limitPerMinute:
		s.stats.add(func(st *Stats) { st.Throttled429PerMinute++ })
		s.throttled(w, now)
		return
	}
	defer s.limits.release()
	if s.admitted != nil {
		s.admitted()
	}
	inj := s.faults.nextDataRequest()
	if inj.latency > 0 {
		t := time.NewTimer(inj.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case inj.status == http.StatusTooManyRequests:
		s.throttled(w, s.now())
		return
	case inj.status != 0:
		s.systemFault(w, s.now(), inj.status)
		return
	case inj.malformed:
		s.stats.add(func(st *Stats) { st.Malformed++ })
		s.dataResponse(w, http.StatusOK, contentTypeHTML, []byte(malformedBody))
		return
	}
	stmt, err := readStatement(r)
	if err != nil {
		s.queryFault(w, s.now(), &parseError{"could not read the request body: " + err.Error()})
		return
	}
	st, err := parseStatement(stmt)
	if err != nil {
		s.queryFault(w, s.now(), err)
		return
	}
	p, err := compile(st, now, s.loc)
	if err != nil {
		s.queryFault(w, s.now(), err)
		return
	}
	s.answer(w, p, inj.truncated)
}

// answer runs a valid plan and writes its envelope.
func (s *Server) answer(w http.ResponseWriter, p *plan, truncate bool) {
	res := s.store.run(p)
	timeStr := s.responseTime(s.now())
	var body []byte
	if p.count {
		body = appendCountEnvelope(make([]byte, 0, 96), res.total, timeStr)
		s.stats.add(func(st *Stats) { st.CountQueries++ })
	} else {
		buf := s.pageBuffer()
		defer s.releasePage(buf)
		entity := p.kind.String()
		*buf = slices.Grow((*buf)[:0], selectEnvelopeSize(entity, res.rows, timeStr))
		*buf = appendSelectEnvelope(*buf, entity, res.rows, p.start, timeStr)
		body = *buf
		s.stats.add(func(st *Stats) { st.SelectQueries++; st.RecordsServed += int64(len(res.rows)) })
		// MutateDuringPaging: page 1 of a query with more pages behind it.
		if p.start == 1 && len(res.rows) == p.max && res.more && s.faults.takeMutation() {
			if err := s.store.update(p.kind, res.first, s.now()); err != nil {
				s.log.Error("mutate during paging", "error", err)
			} else {
				s.stats.add(func(st *Stats) { st.Mutations++ })
			}
		}
	}
	if !truncate {
		s.dataResponse(w, http.StatusOK, contentTypeJSON, body)
		return
	}
	s.stats.add(func(st *Stats) { st.Truncated++; st.Status200++ })
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body[:len(body)/2]); err != nil {
		s.log.Debug("write truncated response", "error", err)
	}
}

// readStatement returns the query statement of a GET or POST request.
func readStatement(r *http.Request) (string, error) {
	if r.Method != http.MethodPost {
		return r.URL.Query().Get("query"), nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxQueryBytes+1))
	if err != nil {
		return "", err
	}
	if len(body) > maxQueryBytes {
		return "", errors.New("statement larger than 1 MiB")
	}
	if len(body) == 0 {
		return r.URL.Query().Get("query"), nil
	}
	return string(body), nil
}

// dataResponse writes a query-endpoint response and counts its status.
func (s *Server) dataResponse(w http.ResponseWriter, status int, contentType string, body []byte) {
	s.stats.status(status)
	s.write(w, status, contentType, body)
}

// unauthorized answers 401 like the API gateway does for a missing,
// unknown or expired access token.
func (s *Server) unauthorized(w http.ResponseWriter, now time.Time, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="Intuit", error="invalid_token"`)
	s.dataResponse(w, http.StatusUnauthorized, contentTypeJSON,
		gatewayFaultJSON(authMessage, detail, "3200", "AUTHENTICATION", now.UnixMilli()))
}

// forbidden answers 403 ApplicationAuthorizationFailed for a token used on
// another company.
func (s *Server) forbidden(w http.ResponseWriter, now time.Time, realm string) {
	s.dataResponse(w, http.StatusForbidden, contentTypeJSON,
		gatewayFaultJSON(authzMessage, "Authorization failed: the access token is not authorized for company "+realm,
			"3100", "SERVICE", now.UnixMilli()))
}

// throttled answers 429 ThrottleExceeded, JSON or XML, with no Retry-After.
func (s *Server) throttled(w http.ResponseWriter, now time.Time) {
	ts := s.responseTime(now)
	if s.faults.xml429() {
		s.dataResponse(w, http.StatusTooManyRequests, contentTypeXML, throttleXML(ts))
		return
	}
	s.dataResponse(w, http.StatusTooManyRequests, contentTypeJSON,
		faultJSON(throttleMessage, throttleDetail, "3001", "SERVICE", ts))
}

// systemFault answers 500 or 503 with SystemFault 10000.
func (s *Server) systemFault(w http.ResponseWriter, now time.Time, status int) {
	s.dataResponse(w, status, contentTypeJSON,
		faultJSON(systemMessage, systemDetail, "10000", "SystemFault", s.responseTime(now)))
}

// queryFault answers 400 for a statement that does not parse (4000) or does
// not validate (4001).
func (s *Server) queryFault(w http.ResponseWriter, now time.Time, err error) {
	message, code := parseMessage, "4000"
	var ve *validationError
	if errors.As(err, &ve) {
		message, code = invalidMessage, "4001"
	}
	s.dataResponse(w, http.StatusBadRequest, contentTypeJSON,
		faultJSON(message, err.Error(), code, "ValidationFault", s.responseTime(now)))
}

// pageBuffer takes a page buffer from the pool.
func (s *Server) pageBuffer() *[]byte {
	if b, ok := s.pages.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

// releasePage returns a page buffer to the pool unless it is huge.
func (s *Server) releasePage(b *[]byte) {
	if cap(*b) <= maxPooledPage {
		s.pages.Put(b)
	}
}
