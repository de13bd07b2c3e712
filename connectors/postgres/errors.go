package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/etl-engine/etl/engine/retry"
	"github.com/etl-engine/etl/engine/secret"
)

// classify marks err retryable (retry.Network) when it is a lost or refused
// connection, a server shutting down, a serialization failure or a
// deadlock: retrying the whole window transaction then succeeds or fails
// cleanly, because writes are idempotent. Other errors keep their class
// (permanent unless marked). Context errors are left alone.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if _, ok := errors.AsType[retry.Classified](err); ok {
		return err
	}
	if retryable(err) {
		return retry.Mark(retry.Network, err)
	}
	return err
}

// retryable reports whether err is worth retrying on a new connection. A
// failed connection attempt is judged by its cause: refused or reset is
// retryable, a bad password, a missing database or a refused TLS
// handshake is not.
func retryable(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch code := pgErr.Code; {
		case pgerrcode.IsConnectionException(code): // class 08
			return true
		case code == pgerrcode.AdminShutdown, code == pgerrcode.CrashShutdown, code == pgerrcode.CannotConnectNow:
			return true
		case code == pgerrcode.SerializationFailure, code == pgerrcode.DeadlockDetected:
			return true
		case code == pgerrcode.TooManyConnections:
			return true
		}
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	// pgx reports a use of a connection it already closed after a fatal
	// error with these words.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF")
}

// scrub returns err with every occurrence of the password replaced by
// secret.Redacted. The wrapped chain (for errors.Is and As) is kept.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), password, secret.Redacted), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
