package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/engine/state"
)

// Credentials keeps rotating credentials (such as OAuth refresh tokens) in
// etl.credentials. Values are text: valid UTF-8 without NUL bytes. They are
// stored as given (not encrypted): protect the database accordingly.
type Credentials struct {
	db *DB
}

var _ state.CredentialStore = (*Credentials)(nil)

// Get returns the stored value of key, or ok=false when there is none.
func (c *Credentials) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var v string
	err := c.db.pool.QueryRow(ctx, "SELECT value FROM etl.credentials WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, classify(fmt.Errorf("credential %s: %w", key, err))
	}
	return []byte(v), true, nil
}

// Update runs fn with the current value of key (nil if none) while holding
// an exclusive lock on key, across processes, and stores fn's result
// (incrementing the version) before it returns. A second Update of the same
// key waits, then sees the first one's value: a token refresh is
// single-flight. If fn fails, or returns nil, nothing is stored.
//
// The lock is a transaction-level advisory lock on the key (which also
// covers a key with no row yet) plus SELECT ... FOR UPDATE of the row; fn
// runs while the transaction is open.
func (c *Credentials) Update(ctx context.Context, key string, fn func(current []byte) ([]byte, error)) error {
	if key == "" {
		return errors.New("credential update: key is empty")
	}
	var fnErr error
	err := pgx.BeginFunc(ctx, c.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('etl.credentials:' || $1, 0))", key); err != nil {
			return err
		}
		var current []byte
		var v string
		err := tx.QueryRow(ctx, "SELECT value FROM etl.credentials WHERE key = $1 FOR UPDATE", key).Scan(&v)
		switch {
		case err == nil:
			current = []byte(v)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		next, err := fn(current)
		if err != nil {
			fnErr = err
			return err
		}
		if next == nil {
			return nil
		}
		if !utf8.Valid(next) || bytes.IndexByte(next, 0) >= 0 {
			fnErr = fmt.Errorf("credential %s: value must be UTF-8 text without NUL bytes", key)
			return fnErr
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO etl.credentials (key, value, version, updated_at) VALUES ($1, $2, 1, now())
			ON CONFLICT (key) DO UPDATE
			SET value = excluded.value, version = etl.credentials.version + 1, updated_at = now()`,
			key, string(next))
		return err
	})
	if fnErr != nil {
		// fn's own error, unchanged in class; it never holds the value.
		return fmt.Errorf("credential %s: %w", key, fnErr)
	}
	if err != nil {
		return classify(fmt.Errorf("credential %s: update: %w", key, err))
	}
	return nil
}
