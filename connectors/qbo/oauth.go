package qbo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/engine/state"
)

// Intuit's endpoints, chosen by environment unless overridden.
const (
	TokenURL          = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
	ProductionBaseURL = "https://quickbooks.api.intuit.com"
	SandboxBaseURL    = "https://sandbox-quickbooks.api.intuit.com"
)

// refreshAhead is how long before expiry an access token is replaced, so a
// request never starts with a token about to die.
const refreshAhead = 5 * time.Minute

// storedToken is what the credential store keeps for a realm. The refresh
// token is the only copy of a live credential: it is written (and the
// write committed) before the access token that came with it is used.
type storedToken struct {
	RefreshToken string    `json:"refresh_token"`
	AccessToken  string    `json:"access_token"`
	Expiry       time.Time `json:"expiry"`
	// SeedHash is the SHA-256 of the configured QBO_REFRESH_TOKEN the chain
	// started from. When the configured token changes (a person
	// re-authorised the app), the stored chain is replaced by it.
	SeedHash  string    `json:"seed_hash"`
	Rotations int64     `json:"rotations"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TokenSource hands out QBO access tokens. It refreshes one at a time per
// realm (a lock in the credential store, which is a row lock in
// PostgreSQL, so across processes too), refreshes ahead of expiry, and
// persists each rotated refresh token before returning the new access
// token. It never logs or returns a token in an error.
type TokenSource struct {
	store    state.CredentialStore
	key      string
	realm    string
	conf     *oauth2.Config
	seed     secret.Value
	client   *http.Client
	log      *slog.Logger
	redactor *secret.Redactor
	now      func() time.Time

	mu      sync.Mutex
	current *oauth2.Token
	// refreshes counts token endpoint calls made by this source.
	refreshes int
}

// TokenSourceConfig configures NewTokenSource.
type TokenSourceConfig struct {
	Store        state.CredentialStore
	Realm        string
	ClientID     secret.Value
	ClientSecret secret.Value
	RefreshToken secret.Value
	TokenURL     string
	HTTPClient   *http.Client
	Logger       *slog.Logger
	Redactor     *secret.Redactor
	Now          func() time.Time
}

// NewTokenSource returns a token source for one realm.
func NewTokenSource(c TokenSourceConfig) *TokenSource {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Store == nil {
		c.Store = NewMemoryCredentials()
	}
	if c.Redactor == nil {
		c.Redactor = &secret.Redactor{}
	}
	return &TokenSource{
		store: c.Store,
		key:   "qbo/" + c.Realm,
		realm: c.Realm,
		conf: &oauth2.Config{
			ClientID:     c.ClientID.Reveal(),
			ClientSecret: c.ClientSecret.Reveal(),
			Endpoint:     oauth2.Endpoint{TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		},
		seed:     c.RefreshToken,
		client:   c.HTTPClient,
		log:      c.Logger,
		redactor: c.Redactor,
		now:      c.Now,
	}
}

// Token returns a valid access token, refreshing it when it is missing or
// about to expire.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.current != nil && ts.now().Add(refreshAhead).Before(ts.current.Expiry) {
		return ts.current.AccessToken, nil
	}
	if err := ts.refresh(ctx, ""); err != nil {
		return "", err
	}
	return ts.current.AccessToken, nil
}

// Invalidate reports that rejected (an access token) was refused with a
// 401. If it is still the current token, the next Token call refreshes;
// if another request already replaced it, nothing happens, so a burst of
// 401s causes one refresh, not one per request.
func (ts *TokenSource) Invalidate(ctx context.Context, rejected string) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.current != nil && ts.current.AccessToken != rejected && ts.now().Add(refreshAhead).Before(ts.current.Expiry) {
		return ts.current.AccessToken, nil
	}
	if err := ts.refresh(ctx, rejected); err != nil {
		return "", err
	}
	return ts.current.AccessToken, nil
}

// Refreshes returns how many times this source called the token endpoint.
func (ts *TokenSource) Refreshes() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.refreshes
}

// refresh runs under the store's lock for the realm: it reads the newest
// stored token; if another process refreshed it meanwhile (and it is not
// the rejected one), it adopts it; otherwise it calls the token endpoint
// and stores the rotated refresh token before returning.
func (ts *TokenSource) refresh(ctx context.Context, rejected string) error {
	seedHash := hashToken(ts.seed.Reveal())
	var fresh storedToken
	err := ts.store.Update(ctx, ts.key, func(cur []byte) ([]byte, error) {
		var st storedToken
		if len(cur) > 0 {
			if err := json.Unmarshal(cur, &st); err != nil {
				return nil, fmt.Errorf("stored QBO token for realm %s is unreadable: %w", ts.realm, err)
			}
		}
		if st.SeedHash == seedHash && st.AccessToken != "" && st.AccessToken != rejected &&
			ts.now().Add(refreshAhead).Before(st.Expiry) {
			fresh = st
			return nil, errAdopt
		}
		rt := st.RefreshToken
		if st.SeedHash != seedHash || rt == "" {
			// First use, or a person configured a new refresh token.
			rt = ts.seed.Reveal()
			st = storedToken{SeedHash: seedHash}
		}
		hctx := ctx
		if ts.client != nil {
			hctx = context.WithValue(ctx, oauth2.HTTPClient, ts.client)
		}
		ts.refreshes++
		tok, err := ts.conf.TokenSource(hctx, &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			return nil, ts.refreshError(err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" {
			return nil, &Error{Class: retry.Malformed, Message: "token endpoint answered without an access or refresh token", Hint: "check QBO_TOKEN_URL"}
		}
		if tok.Expiry.IsZero() {
			tok.Expiry = ts.now().Add(time.Hour)
		}
		ts.redactor.Add(tok.AccessToken, tok.RefreshToken)
		st.RefreshToken, st.AccessToken, st.Expiry = tok.RefreshToken, tok.AccessToken, tok.Expiry
		st.Rotations++
		st.UpdatedAt = ts.now().UTC()
		fresh = st
		return json.Marshal(st)
	})
	if err != nil && !errors.Is(err, errAdopt) {
		return err
	}
	ts.redactor.Add(fresh.AccessToken, fresh.RefreshToken)
	ts.current = &oauth2.Token{AccessToken: fresh.AccessToken, RefreshToken: fresh.RefreshToken, Expiry: fresh.Expiry}
	if errors.Is(err, errAdopt) {
		ts.log.Debug("using the QBO access token another process refreshed", "realm", ts.realm)
	} else {
		ts.log.Info("QBO access token refreshed; rotated refresh token stored", "realm", ts.realm, "expires", fresh.Expiry.UTC().Format(time.RFC3339))
	}
	return nil
}

// errAdopt aborts a credential update without writing: the stored token is
// already fresh.
var errAdopt = errors.New("adopt stored token")

// refreshError turns a token endpoint failure into an error that names the
// realm and never the token. The response body is not included: it could
// hold a token.
func (ts *TokenSource) refreshError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		e := &Error{Status: status, Code: re.ErrorCode, Class: retry.Permanent}
		if re.Response != nil {
			e.IntuitTID = re.Response.Header.Get("intuit_tid")
		}
		switch re.ErrorCode {
		case "invalid_grant":
			e.Class = retry.Reauthorize
			e.Message = fmt.Sprintf("QBO refused the refresh token of realm %s (invalid_grant)", ts.realm)
			e.Hint = "re-authorise the app for this company, put the new refresh token in QBO_REFRESH_TOKEN and run again (see docs/RUNBOOK.md)"
		case "invalid_client":
			e.Message = fmt.Sprintf("QBO refused the app's client credentials for realm %s (invalid_client)", ts.realm)
			e.Hint = "check QBO_CLIENT_ID and QBO_CLIENT_SECRET, and that QBO_ENV matches the app's keys"
		default:
			class, hint := classifyStatus(status, "")
			if class == retry.Reauthorize {
				class = retry.Permanent
			}
			e.Class, e.Hint = class, hint
			e.Message = fmt.Sprintf("token refresh for realm %s failed", ts.realm)
			if re.ErrorCode != "" {
				e.Message += " (" + re.ErrorCode + ")"
			}
		}
		return e
	}
	te := transportError(err)
	te.Message = fmt.Sprintf("token refresh for realm %s failed: %s", ts.realm, ts.redactor.Redact(err.Error()))
	te.err = nil
	return te
}

func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// MemoryCredentials is a CredentialStore kept in memory, for tests and for
// commands that run without a database. Rotated tokens stored here are lost
// when the process ends.
type MemoryCredentials struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryCredentials returns an empty store.
func NewMemoryCredentials() *MemoryCredentials { return &MemoryCredentials{m: map[string][]byte{}} }

// Get implements state.CredentialStore.
func (m *MemoryCredentials) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[key]
	return v, ok, nil
}

// Update implements state.CredentialStore.
func (m *MemoryCredentials) Update(_ context.Context, key string, fn func([]byte) ([]byte, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := fn(m.m[key])
	if err != nil {
		return err
	}
	m.m[key] = v
	return nil
}
