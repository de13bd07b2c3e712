package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/secret"
)

// CheckConnection is the name of the connection check of Database.
const CheckConnection = "postgres connection"

// target describes the server and role of a settings map, for messages.
type target struct {
	host     string
	port     int64
	database string
	user     string
	// redact scrubs the password from any text built from a server error.
	redact *secret.Redactor
}

func targetOf(s component.Settings) target {
	t := target{host: s.String(postgres.FieldHost), port: s.Int(postgres.FieldPort), database: s.String(postgres.FieldDatabase),
		user: plainOrSecret(s[postgres.FieldUser]), redact: &secret.Redactor{}}
	if t.host == "" {
		t.host = "localhost"
	}
	if t.port == 0 {
		t.port = 5432
	}
	t.redact.Add(plainOrSecret(s[postgres.FieldPassword]))
	return t
}

// where is host:port/database.
func (t target) where() string {
	return net.JoinHostPort(t.host, strconv.FormatInt(t.port, 10)) + "/" + t.database
}

// role is the user quoted as an SQL identifier, for GRANT statements.
func (t target) role() string { return pgx.Identifier{t.user}.Sanitize() }

func plainOrSecret(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case secret.Value:
		return x.Reveal()
	}
	return ""
}

// connectFailure turns an error of postgres.Open into a failed check that
// names the server, database and role and says what to do. The password
// never appears: Open scrubs it, and so does t.redact.
func connectFailure(t target, err error) Check {
	cause, fix := connectCause(t, err)
	detail := fmt.Sprintf("cannot connect to %s as user %s: %s", t.where(), t.user, cause)
	return fail(CheckConnection, t.redact.Redact(detail), t.redact.Redact(fix))
}

func connectCause(t target, err error) (cause, fix string) {
	const settings = "check POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB, POSTGRES_USER and POSTGRES_SSLMODE"
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		cause = fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
		switch pgErr.Code {
		case pgerrcode.InvalidPassword:
			return cause, fmt.Sprintf("check POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE, or /run/secrets/postgres_password): "+
				"it must be the password of role %s; a database administrator can set a new one with ALTER ROLE %s PASSWORD '...';",
				t.user, t.role())
		case pgerrcode.InvalidAuthorizationSpecification:
			return cause, fmt.Sprintf("check POSTGRES_USER; the server must let role %s connect to database %s from this host (pg_hba.conf)",
				t.user, t.database)
		case pgerrcode.InvalidCatalogName:
			return cause, fmt.Sprintf("set POSTGRES_DB to an existing database, or create it: CREATE DATABASE %s OWNER %s;",
				pgx.Identifier{t.database}.Sanitize(), t.role())
		case pgerrcode.InsufficientPrivilege:
			return cause, fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s;", pgx.Identifier{t.database}.Sanitize(), t.role())
		case pgerrcode.TooManyConnections:
			return cause, "wait for connections to close, or raise max_connections on the server"
		case pgerrcode.CannotConnectNow:
			return cause, "the server is starting or stopping: wait, then run etl doctor again"
		}
		return cause, settings
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case strings.Contains(err.Error(), "postgres settings"):
		return err.Error(), settings
	case errors.As(err, &dnsErr):
		return dnsErr.Error(), "check POSTGRES_HOST: the name does not resolve from here"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", "check that PostgreSQL is running and that POSTGRES_HOST and POSTGRES_PORT point at it"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out", "check POSTGRES_HOST and POSTGRES_PORT, and that no firewall drops the connection"
	case strings.Contains(strings.ToLower(err.Error()), "ssl") || strings.Contains(strings.ToLower(err.Error()), "tls"):
		return err.Error(), "set POSTGRES_SSLMODE to what the server supports (disable, prefer, require, verify-ca or verify-full)"
	}
	return err.Error(), settings
}
