package sandbox

import (
	"fmt"
	"log/slog"
	"time"
)

// Entity names served by the sandbox, spelled as QBO spells them in
// envelopes.
const (
	EntityCustomer = "Customer"
	EntityInvoice  = "Invoice"
	EntityItem     = "Item"
)

// Defaults applied by New to zero-valued Options fields.
const (
	DefaultRealmID           = "9341455649204247"
	DefaultClientID          = "sandbox-client-id"
	DefaultClientSecret      = "sandbox-client-secret"
	DefaultRefreshToken      = "sandbox-refresh-token-0"
	DefaultAccessTokenTTL    = 3600 * time.Second
	DefaultRequestsPerMinute = 500
	DefaultMaxInFlight       = 10
	DefaultInactiveFraction  = 0.1
)

// DefaultDataStart and DefaultDataEnd bound the LastUpdatedTime of generated
// records when Options leaves them zero, as Unix seconds (UTC).
const (
	DefaultDataStart = 1546300800 // 2019-01-01T00:00:00Z
	DefaultDataEnd   = 1767139200 // 2025-12-31T00:00:00Z
)

// refreshTokenLifetime is the x_refresh_token_expires_in value QBO returns
// (100 days, in seconds).
const refreshTokenLifetime = 8726400

// Options configure a Server. The zero value of every field selects its
// documented default, so Options{Seed: 1, Invoices: 10, Customers: 3,
// Items: 3} is a complete configuration.
type Options struct {
	// Seed drives all generated data; the same Seed and counts give
	// byte-identical records.
	Seed int64
	// Customers, Items and Invoices are the number of records generated for
	// each entity (Ties come on top). Invoices need at least one Customer and
	// one Item to reference.
	Customers, Items, Invoices int
	// DataStart and DataEnd bound MetaData.CreateTime and
	// MetaData.LastUpdatedTime of generated records: [DataStart, DataEnd).
	// Defaults: 2019-01-01T00:00:00Z and 2025-12-31T00:00:00Z.
	DataStart, DataEnd time.Time
	// InactiveFraction is the share of Customers and Items generated with
	// Active=false. Zero selects the default 0.1; a negative value means
	// none.
	InactiveFraction float64
	// Ties adds records that all share one LastUpdatedTime (always active).
	Ties []Tie
	// RealmID is the company id served (default "9341455649204247").
	RealmID string
	// ClientID and ClientSecret are the OAuth2 client credentials accepted by
	// the token endpoint.
	ClientID, ClientSecret string
	// RefreshToken is the initial valid refresh token.
	RefreshToken string
	// TokenStateFile, when set, keeps the valid refresh token in this file
	// (mode 0600): a restarted sandbox then accepts the token its clients
	// last received instead of starting a new chain, as QBO would. It is
	// read at start (RefreshToken is used only when the file is missing or
	// empty) and rewritten on every rotation.
	TokenStateFile string
	// AccessTokenTTL is the lifetime of issued access tokens (expires_in).
	AccessTokenTTL time.Duration
	// RequestsPerMinute caps data requests per realm in a sliding minute;
	// requests above it get 429. Zero selects 500; negative disables the cap.
	RequestsPerMinute int
	// MaxInFlight caps concurrent data requests per realm; requests above it
	// get 429. Zero selects 10; negative disables the cap.
	MaxInFlight int
	// Faults are injected from the start; see SetFaults to change them.
	Faults Faults
	// Now is the server clock (default time.Now). Token expiry, the
	// per-minute limit, envelope times and updates all read it.
	Now func() time.Time
	// Logger receives one debug line per request; nil discards. Tokens and
	// secrets are never logged.
	Logger *slog.Logger
}

// Tie asks for Count extra records of Entity that all carry LastUpdatedTime
// At (truncated to the second). Their Ids follow the regular records.
type Tie struct {
	Entity string
	Count  int
	At     time.Time
}

// Faults configures injected failures. Every "every K-th" counter counts data
// requests (query endpoint calls that passed authentication and the rate
// limits) from the start or from the last SetFaults call; when several
// knobs select the same request, the first in field order wins.
type Faults struct {
	// Every429 answers every K-th data request with 429 ThrottleExceeded.
	Every429 int
	// XML429 renders 429 bodies (injected or from the real limits) as the XML
	// IntuitResponse fault instead of JSON.
	XML429 bool
	// Every5xx answers every K-th data request with a SystemFault 10000,
	// alternately 500 and 503 (first 500).
	Every5xx int
	// Latency is added to every data request before it is answered.
	Latency time.Duration
	// EveryTruncated sends only the first half of the body of every K-th
	// data request when it is answered 200; the status and headers,
	// Content-Length included, describe the full body, so the client sees
	// the connection end early (io.ErrUnexpectedEOF).
	EveryTruncated int
	// EveryMalformed answers every K-th data request with 200 and an HTML
	// page instead of JSON.
	EveryMalformed int
	// TokenExpiresAfterRequests makes each access token stop working (401 as
	// if expired) after it has served K data requests.
	TokenExpiresAfterRequests int
	// MutateDuringPaging updates the first record of page 1 (STARTPOSITION 1,
	// full page, more rows behind it) of the first N such SELECT * queries,
	// right after the page is rendered: SyncToken+1, LastUpdatedTime=Now().
	MutateDuringPaging int
	// LoseRefreshResponse makes the K-th successful refresh rotate the tokens
	// but answer 502, so the client never sees the new refresh token.
	LoseRefreshResponse int
}

func (f Faults) validate() error {
	for name, v := range map[string]int{
		"Every429": f.Every429, "Every5xx": f.Every5xx, "EveryTruncated": f.EveryTruncated,
		"EveryMalformed": f.EveryMalformed, "TokenExpiresAfterRequests": f.TokenExpiresAfterRequests,
		"MutateDuringPaging": f.MutateDuringPaging, "LoseRefreshResponse": f.LoseRefreshResponse,
	} {
		if v < 0 {
			return fmt.Errorf("%w: Faults.%s must not be negative, got %d", ErrInvalidOptions, name, v)
		}
	}
	if f.Latency < 0 {
		return fmt.Errorf("%w: Faults.Latency must not be negative, got %s", ErrInvalidOptions, f.Latency)
	}
	return nil
}

// clamped returns f with negative values replaced by zero.
func (f Faults) clamped() Faults {
	for _, p := range []*int{&f.Every429, &f.Every5xx, &f.EveryTruncated, &f.EveryMalformed,
		&f.TokenExpiresAfterRequests, &f.MutateDuringPaging, &f.LoseRefreshResponse} {
		*p = max(*p, 0)
	}
	f.Latency = max(f.Latency, 0)
	return f
}

// withDefaults returns a copy of o with defaults filled in, or an error if a
// field is out of range.
func (o Options) withDefaults() (Options, error) {
	if o.Customers < 0 || o.Items < 0 || o.Invoices < 0 {
		return o, fmt.Errorf("%w: record counts must not be negative (customers %d, items %d, invoices %d)",
			ErrInvalidOptions, o.Customers, o.Items, o.Invoices)
	}
	if o.DataStart.IsZero() {
		o.DataStart = time.Unix(DefaultDataStart, 0).UTC()
	}
	if o.DataEnd.IsZero() {
		o.DataEnd = time.Unix(DefaultDataEnd, 0).UTC()
	}
	if o.DataEnd.Unix() <= o.DataStart.Unix() {
		return o, fmt.Errorf("%w: DataEnd %s must be at least one second after DataStart %s",
			ErrInvalidOptions, o.DataEnd.Format(time.RFC3339), o.DataStart.Format(time.RFC3339))
	}
	switch {
	case o.InactiveFraction == 0:
		o.InactiveFraction = DefaultInactiveFraction
	case o.InactiveFraction < 0:
		o.InactiveFraction = 0
	case o.InactiveFraction > 1:
		return o, fmt.Errorf("%w: InactiveFraction %g is above 1", ErrInvalidOptions, o.InactiveFraction)
	}
	for i, t := range o.Ties {
		if _, ok := entityKindByName(t.Entity); !ok {
			return o, fmt.Errorf("%w: Ties[%d]: unknown entity %q (want Customer, Invoice or Item)", ErrInvalidOptions, i, t.Entity)
		}
		if t.Count < 0 {
			return o, fmt.Errorf("%w: Ties[%d]: Count must not be negative, got %d", ErrInvalidOptions, i, t.Count)
		}
		if t.At.IsZero() {
			return o, fmt.Errorf("%w: Ties[%d]: At is required", ErrInvalidOptions, i)
		}
	}
	if o.Invoices+o.tieCount(kindInvoice) > 0 && (o.Customers+o.tieCount(kindCustomer) == 0 || o.Items+o.tieCount(kindItem) == 0) {
		return o, fmt.Errorf("%w: invoices need at least one customer and one item to reference", ErrInvalidOptions)
	}
	if o.RealmID == "" {
		o.RealmID = DefaultRealmID
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.RefreshToken == "" {
		o.RefreshToken = DefaultRefreshToken
	}
	switch {
	case o.AccessTokenTTL == 0:
		o.AccessTokenTTL = DefaultAccessTokenTTL
	case o.AccessTokenTTL < time.Second:
		return o, fmt.Errorf("%w: AccessTokenTTL %s is below one second", ErrInvalidOptions, o.AccessTokenTTL)
	}
	if o.RequestsPerMinute == 0 {
		o.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if err := o.Faults.validate(); err != nil {
		return o, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// tieCount is the number of tie records requested for kind.
func (o Options) tieCount(kind entityKind) int {
	n := 0
	for _, t := range o.Ties {
		if k, ok := entityKindByName(t.Entity); ok && k == kind {
			n += t.Count
		}
	}
	return n
}
