// Package qbo is the QuickBooks Online connector: the qbo.query loader,
// which pages QBO's query endpoint window by window, and its OAuth2 token
// source, which persists every rotated refresh token before using it.
package qbo

import "github.com/etl-engine/etl/engine/component"

// Name is the registered name of the loader.
const Name = "qbo.query"

// Setting names of the loader.
const (
	FieldEntity           = "entity"
	FieldPageSize         = "page_size"
	FieldIncludeInactive  = "include_inactive"
	FieldMinorVersion     = "minor_version"
	FieldMaxPasses        = "max_passes"
	FieldMaxResponseBytes = "max_response_bytes"
	FieldRealmID          = "realm_id"
	FieldClientID         = "client_id"
	FieldClientSecret     = "client_secret"
	FieldRefreshToken     = "refresh_token"
	FieldEnvironment      = "environment"
	FieldBaseURL          = "base_url"
	FieldTokenURL         = "token_url"
)

// Spec describes the qbo.query loader's settings.
var Spec = component.Spec{
	Name:    Name,
	Kind:    component.KindLoader,
	Summary: "Reads a QuickBooks Online entity window by window through the query endpoint.",
	Fields: []component.Field{
		{Name: FieldEntity, Type: component.TypeString, Required: true, Description: "QBO entity, e.g. Customer, Invoice, Item."},
		{Name: FieldPageSize, Type: component.TypeInteger, Default: int64(1000), Min: component.Int64(1), Max: component.Int64(1000), Description: "MAXRESULTS of each page."},
		{Name: FieldIncludeInactive, Type: component.TypeBoolean, Default: true, Description: "Also load Active=false records of name-list entities."},
		{Name: FieldMinorVersion, Type: component.TypeInteger, Default: int64(75), Min: component.Int64(1), Max: component.Int64(1000), Description: "QBO minorversion."},
		{Name: FieldMaxPasses, Type: component.TypeInteger, Default: int64(3), Min: component.Int64(1), Max: component.Int64(10), Description: "Paging passes over a window when records move meanwhile."},
		{Name: FieldMaxResponseBytes, Type: component.TypeInteger, Default: int64(64 << 20), Min: component.Int64(1 << 16), Max: component.Int64(1 << 30), Description: "Largest response body accepted."},
		{Name: FieldRealmID, Type: component.TypeString, Required: true, Description: "QBO company (realm) id; an identifier stored with every row, not a secret, but it may be read from the secret sources with ${secret:QBO_REALM_ID}."},
		{Name: FieldClientID, Type: component.TypeString, Required: true, Secret: true, Description: "OAuth2 client id of the Intuit app."},
		{Name: FieldClientSecret, Type: component.TypeString, Required: true, Secret: true, Description: "OAuth2 client secret of the Intuit app."},
		{Name: FieldRefreshToken, Type: component.TypeString, Required: true, Secret: true, Description: "Initial OAuth2 refresh token; rotated ones are persisted by the engine."},
		{Name: FieldEnvironment, Type: component.TypeString, Default: "production", Enum: []string{"sandbox", "production"}, Description: "Picks Intuit's default endpoints."},
		{Name: FieldBaseURL, Type: component.TypeString, Description: "API base URL override (QBO_BASE_URL)."},
		{Name: FieldTokenURL, Type: component.TypeString, Description: "Token URL override (QBO_TOKEN_URL)."},
	},
}
