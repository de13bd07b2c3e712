package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConnConfig returns a connection configuration for database as the
// superuser over TCP, built field by field (no connection string holds the
// password).
func (c *Cluster) ConnConfig(database string) (*pgx.ConnConfig, error) {
	// An explicit sslmode overrides a PGSSLMODE in the environment.
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("connection defaults: %w", err)
	}
	cfg.Host = c.Host()
	cfg.Port = uint16(c.port)
	cfg.Database = database
	cfg.User = SuperUser
	cfg.Password = c.password
	cfg.TLSConfig = nil
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = 10 * time.Second
	cfg.RuntimeParams = map[string]string{"application_name": "pgcluster"}
	return cfg, nil
}

// connect opens a superuser connection to database.
func (c *Cluster) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	cfg, err := c.ConnConfig(database)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// ping checks that the server accepts an authenticated connection.
func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := c.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// ExecAsSuperuser runs sql (one or more statements, no parameters) as the
// superuser in the postgres database.
func (c *Cluster) ExecAsSuperuser(ctx context.Context, sql string) error {
	conn, err := c.connect(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("connecting to the test cluster on port %d: %w", c.port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("running SQL as superuser: %w", err)
	}
	return nil
}

// CreateDatabase creates database name, owned by the superuser.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return c.ExecAsSuperuser(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// DropDatabase drops database name if it exists, disconnecting its sessions.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return c.ExecAsSuperuser(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("database name is empty")
	case len(name) > 63:
		return fmt.Errorf("database name %q is longer than 63 bytes", name)
	}
	return nil
}
