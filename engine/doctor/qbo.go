package doctor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/etl-engine/etl/connectors/qbo"
	"github.com/etl-engine/etl/engine/secret"
	"github.com/etl-engine/etl/engine/state"
)

// refreshTimeout bounds the whole refresh: lock, token endpoint, store.
const refreshTimeout = time.Minute

// RefreshOptions are what QBORefresh needs besides the configuration.
type RefreshOptions struct {
	// HTTPClient calls the token endpoint (default: a client with a 30 s
	// timeout).
	HTTPClient *http.Client
	// Redactor receives the new access and refresh tokens, so that
	// whatever prints afterwards scrubs them (default: a new one).
	Redactor *secret.Redactor
	// Logger receives the token source's messages (default: discarded).
	Logger *slog.Logger
	// Now is the clock of token expiry (default time.Now).
	Now func() time.Time
}

// QBORefreshName is the name of the refresh check of c.
func QBORefreshName(c QBOConfig) string {
	if c.Realm == "" {
		return "qbo refresh"
	}
	return "qbo refresh realm " + c.Realm
}

// QBORefreshSkipped is the refresh check of c when it is not run.
func QBORefreshSkipped(c QBOConfig, why, fix string) Check { return skip(QBORefreshName(c), why, fix) }

// QBORefresh performs one token refresh for c through the same
// qbo.TokenSource and credential store as runs, so the rotated refresh
// token is persisted in store (etl.credentials) before anything else
// happens: afterwards runs continue from the new token. A refresh is
// forced even when the store holds an access token that is still valid,
// since only a refresh proves the refresh token is good.
//
// invalid_grant (the refresh token is dead) and invalid_client (wrong app
// keys) fail with what to do; so does a credential store that cannot be
// read (then no refresh is attempted: its new token would be lost).
func QBORefresh(ctx context.Context, c QBOConfig, store state.CredentialStore, o RefreshOptions) Check {
	name := QBORefreshName(c)
	users := usedBy(c.Pipelines, 0)
	if c.Err != nil {
		return fail(name, fmt.Sprintf("the QBO settings cannot be resolved (%s); %s", strings.ReplaceAll(c.Err.Error(), "\n", "; "), users),
			"fix the secret and env checks above, then run etl doctor --qbo-refresh again")
	}
	if store == nil {
		return skip(name, "no credential store: a refresh without one would lose the rotated refresh token",
			"fix the postgres checks above, then run etl doctor --qbo-refresh again")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Redactor == nil {
		o.Redactor = &secret.Redactor{} // the token source needs one
	}
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	key := "qbo/" + c.Realm
	if _, _, err := store.Get(ctx, key); err != nil {
		return fail(name, redactText(o.Redactor, fmt.Sprintf("cannot read the stored token (%s in etl.credentials): %v; no refresh attempted", key, err)),
			"fix the postgres checks above (etl migrate creates etl.credentials), then run etl doctor --qbo-refresh again")
	}
	ts := qbo.NewTokenSource(qbo.TokenSourceConfig{
		Store: store, Realm: c.Realm, ClientID: c.ClientID, ClientSecret: c.ClientSecret, RefreshToken: c.RefreshToken,
		TokenURL: c.TokenURL, HTTPClient: o.HTTPClient, Logger: o.Logger, Redactor: o.Redactor, Now: o.Now,
	})
	access, err := ts.Token(ctx)
	if err == nil && ts.Refreshes() == 0 {
		// Token adopted a stored access token; refresh for real.
		_, err = ts.Invalidate(ctx, access)
	}
	if err != nil {
		return refreshFailure(name, c, o.Redactor, err)
	}
	if _, stored, err := store.Get(ctx, key); err != nil || !stored {
		return fail(name, redactText(o.Redactor, fmt.Sprintf("the token was refreshed but %s is not in etl.credentials (%v)", key, err)),
			"check the etl.credentials table; a run will refresh again from the stored or configured token")
	}
	return ok(name, fmt.Sprintf("refreshed at %s: new access token issued, rotated refresh token stored in etl.credentials (%s); %s",
		c.TokenURL, key, users))
}

// refreshFailure turns a token source error into a failed check.
func refreshFailure(name string, c QBOConfig, red *secret.Redactor, err error) Check {
	var qe *qbo.Error
	if !errors.As(err, &qe) {
		return fail(name, redactText(red, "token refresh failed: "+err.Error()), "check QBO_TOKEN_URL and the network, then run etl doctor --qbo-refresh again")
	}
	detail := qe.Message
	if qe.Status > 0 {
		detail = fmt.Sprintf("HTTP %d from %s: %s", qe.Status, c.TokenURL, detail)
	}
	if qe.IntuitTID != "" {
		detail += " [intuit_tid " + qe.IntuitTID + "]"
	}
	fix := qe.Hint
	switch qe.Code {
	case "invalid_grant":
		fix += "; until then runs of " + strings.Join(c.Pipelines, ", ") + " exit with code 3 (docs/SECRETS.md, QBO_REFRESH_TOKEN)"
	case "invalid_client":
		fix += " (Intuit developer portal, app keys; see docs/SECRETS.md)"
	}
	if fix == "" {
		fix = "check QBO_TOKEN_URL and the network, then run etl doctor --qbo-refresh again"
	}
	return fail(name, redactText(red, detail), fix)
}

func redactText(red *secret.Redactor, s string) string { return red.Redact(s) }
