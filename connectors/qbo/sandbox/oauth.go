package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// OAuth2 as QBO does it (qbo-api.md §2): POST /oauth2/v1/tokens/bearer,
// form-encoded, client credentials by HTTP Basic or form fields. Every
// successful refresh rotates the refresh token and the old one stops working
// at once (the strictest case of Intuit's rotation). Token values come from
// crypto/rand and never influence generated data.

// OAuth error bodies, byte for byte.
const (
	bodyInvalidGrant         = `{"error":"invalid_grant"}`
	bodyInvalidClient        = `{"error":"invalid_client"}`
	bodyUnsupportedGrantType = `{"error":"unsupported_grant_type"}`
	bodyInvalidRequest       = `{"error":"invalid_request"}`
	maxTokenRequestBytes     = 64 << 10
)

// accessToken is one issued access token.
type accessToken struct {
	stats TokenStats
	realm string
}

// authState holds the credentials and tokens; all fields are guarded by mu.
type authState struct {
	mu           sync.Mutex
	clientID     string
	clientSecret string
	refresh      string // the only valid refresh token
	ttl          time.Duration
	realm        string
	tokens       map[string]*accessToken
	issued       []*accessToken // issue order
	// stateFile, when set, keeps the valid refresh token across restarts.
	stateFile string
}

func newAuthState(o Options) (*authState, error) {
	a := &authState{
		clientID:     o.ClientID,
		clientSecret: o.ClientSecret,
		refresh:      o.RefreshToken,
		ttl:          o.AccessTokenTTL,
		realm:        o.RealmID,
		tokens:       make(map[string]*accessToken),
		stateFile:    o.TokenStateFile,
	}
	if a.stateFile != "" {
		b, err := os.ReadFile(a.stateFile)
		switch {
		case err == nil && len(strings.TrimSpace(string(b))) > 0:
			a.refresh = strings.TrimSpace(string(b))
		case err == nil || errors.Is(err, fs.ErrNotExist):
			if err := a.persist(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("sandbox: reading token state %s: %w", a.stateFile, err)
		}
	}
	return a, nil
}

// persist writes the valid refresh token to the state file (mode 0600,
// temporary file and rename), so a restarted sandbox accepts the token its
// clients hold, as QBO would.
func (a *authState) persist() error {
	if a.stateFile == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(a.stateFile), ".sandbox-token-*")
	if err != nil {
		return fmt.Errorf("sandbox: writing token state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(a.refresh); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: writing token state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sandbox: writing token state: %w", err)
	}
	if err := os.Rename(tmp.Name(), a.stateFile); err != nil {
		return fmt.Errorf("sandbox: writing token state: %w", err)
	}
	return nil
}

// tokenResponse is the 200 body of the token endpoint.
type tokenResponse struct {
	TokenType             string `json:"token_type"`
	AccessToken           string `json:"access_token"`
	RefreshToken          string `json:"refresh_token"`
	ExpiresIn             int64  `json:"expires_in"`
	XRefreshTokenExpireIn int64  `json:"x_refresh_token_expires_in"`
}

// randomToken returns prefix followed by 256 bits of crypto randomness.
func randomToken(prefix string) string {
	return prefix + rand.Text() + rand.Text()
}

// equal compares secrets in constant time.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// clientCredentials extracts the client id and secret from Basic auth
// (URL-decoded as RFC 6749 §2.3.1 asks) or from the form.
func clientCredentials(r *http.Request) (id, secret string, ok bool) {
	if id, secret, ok = r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if u, err := url.QueryUnescape(secret); err == nil {
			secret = u
		}
		return id, secret, true
	}
	id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	return id, secret, id != "" || secret != ""
}

// handleToken serves POST /oauth2/v1/tokens/bearer.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		s.tokenFailure(w, http.StatusBadRequest, bodyInvalidRequest)
		return
	}
	id, secret, ok := clientCredentials(r)
	if !ok || !equal(id, s.auth.clientID) || !equal(secret, s.auth.clientSecret) {
		s.tokenFailure(w, http.StatusUnauthorized, bodyInvalidClient)
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "refresh_token":
	case "":
		s.tokenFailure(w, http.StatusBadRequest, bodyInvalidRequest)
		return
	default:
		s.tokenFailure(w, http.StatusBadRequest, bodyUnsupportedGrantType)
		return
	}
	resp, ok := s.auth.rotate(r.PostForm.Get("refresh_token"), s.opts.Now())
	if !ok {
		s.tokenFailure(w, http.StatusBadRequest, bodyInvalidGrant)
		return
	}
	s.stats.add(func(st *Stats) { st.Refreshes++ })
	if s.faults.refreshLost() {
		s.stats.add(func(st *Stats) { st.LostRefreshResponses++ })
		s.write(w, http.StatusBadGateway, contentTypeHTML, []byte(badGatewayBody))
		return
	}
	body, err := json.Marshal(resp)
	if err != nil { // cannot happen: the struct holds only strings and ints
		http.Error(w, "encode token response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	s.write(w, http.StatusOK, contentTypeJSON, body)
}

// tokenFailure answers the token endpoint with an OAuth error body.
func (s *Server) tokenFailure(w http.ResponseWriter, status int, body string) {
	s.stats.add(func(st *Stats) { st.RefreshFailures++ })
	w.Header().Set("Cache-Control", "no-store")
	s.write(w, status, contentTypeJSON, []byte(body))
}

// rotate exchanges the current refresh token for a new pair. It fails for
// any other value, including every previously valid one.
func (a *authState) rotate(presented string, now time.Time) (tokenResponse, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if presented == "" || !equal(presented, a.refresh) {
		return tokenResponse{}, false
	}
	previous := a.refresh
	a.refresh = randomToken("AB11")
	if err := a.persist(); err != nil {
		// Refuse the rotation rather than hand out a token a restart would
		// forget.
		a.refresh = previous
		return tokenResponse{}, false
	}
	access := randomToken("sbx.")
	tok := &accessToken{realm: a.realm, stats: TokenStats{
		Seq:       len(a.issued) + 1,
		IssuedAt:  now.UTC(),
		ExpiresAt: now.Add(a.ttl).UTC(),
	}}
	a.tokens[access] = tok
	a.issued = append(a.issued, tok)
	return tokenResponse{
		TokenType:             "bearer",
		AccessToken:           access,
		RefreshToken:          a.refresh,
		ExpiresIn:             int64(a.ttl / time.Second),
		XRefreshTokenExpireIn: refreshTokenLifetime,
	}, true
}

// currentRefresh returns the valid refresh token.
func (a *authState) currentRefresh() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refresh
}

// authOutcome is the result of checking a bearer token.
type authOutcome int

const (
	authOK authOutcome = iota
	authMissing
	authInvalid // unknown or expired
	authWrongRealm
)

// authenticate checks the Authorization header of a data request for realm
// and, when it is valid, counts the request against the token. budget is
// Faults.TokenExpiresAfterRequests.
func (a *authState) authenticate(header, realm string, now time.Time, budget int) (authOutcome, string) {
	scheme, value, _ := strings.Cut(strings.TrimSpace(header), " ")
	value = strings.TrimSpace(value)
	if !strings.EqualFold(scheme, "Bearer") || value == "" {
		return authMissing, ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	tok, ok := a.tokens[value]
	if !ok {
		return authInvalid, fingerprint(value)
	}
	if !now.Before(tok.stats.ExpiresAt) || (budget > 0 && tok.stats.Requests >= int64(budget)) {
		tok.stats.Rejected++
		return authInvalid, fingerprint(value)
	}
	if tok.realm != realm {
		return authWrongRealm, ""
	}
	tok.stats.Requests++
	return authOK, ""
}

// tokenStats copies the per-token counters.
func (a *authState) tokenStats() []TokenStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]TokenStats, len(a.issued))
	for i, t := range a.issued {
		out[i] = t.stats
	}
	return out
}

// fingerprint identifies a token in fault details without revealing it.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}
