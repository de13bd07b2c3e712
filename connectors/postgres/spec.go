// Package postgres is the PostgreSQL connector: the postgres.upsert
// exporter, which stages each page with COPY and upserts it into a raw
// table, and the engine's state store (runs, windows, leases, credentials),
// kept in the same database so that rows and checkpoints commit together.
package postgres

import "github.com/etl-engine/etl/engine/component"

// Name is the registered name of the exporter.
const Name = "postgres.upsert"

// Setting names of the exporter.
const (
	FieldHost     = "host"
	FieldPort     = "port"
	FieldDatabase = "database"
	FieldUser     = "user"
	FieldPassword = "password"
	FieldSSLMode  = "sslmode"
	FieldSchema   = "schema"
	FieldTable    = "table"
)

// Spec describes the postgres.upsert exporter's settings.
var Spec = component.Spec{
	Name:    Name,
	Kind:    component.KindExporter,
	Summary: "Upserts records into a PostgreSQL raw table, with the run's checkpoints in the same transaction.",
	Fields: []component.Field{
		{Name: FieldHost, Type: component.TypeString, Default: "localhost", Description: "Host name, or a unix socket folder."},
		{Name: FieldPort, Type: component.TypeInteger, Default: int64(5432), Min: component.Int64(1), Max: component.Int64(65535), Description: "Server port."},
		{Name: FieldDatabase, Type: component.TypeString, Required: true, Description: "Database name."},
		{Name: FieldUser, Type: component.TypeString, Required: true, Description: "Role to connect as; not a secret, but it may be read from the secret sources with ${secret:POSTGRES_USER}."},
		{Name: FieldPassword, Type: component.TypeString, Required: true, Secret: true, Description: "Password of the role."},
		{Name: FieldSSLMode, Type: component.TypeString, Default: "prefer", Enum: []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}, Description: "TLS mode."},
		{Name: FieldSchema, Type: component.TypeIdentifier, Default: "raw", Description: "Target schema."},
		{Name: FieldTable, Type: component.TypeIdentifier, Required: true, Description: "Target table."},
	},
}
