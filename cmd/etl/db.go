package main

import (
	"context"
	"fmt"
	"io"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/engine/secret"
)

// openDB connects to the PostgreSQL named by the POSTGRES_* settings (the
// same database the pipelines write to), for commands that work on the
// engine's state rather than on one pipeline.
func (a *app) openDB(ctx context.Context, stderr io.Writer, migrate bool) (*postgres.DB, error) {
	settings, err := postgres.SettingsFromEnv(a.secrets())
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("database settings: %w", err))
	}
	if pw, ok := settings[postgres.FieldPassword].(secret.Value); ok {
		a.redactor.Add(pw.Reveal())
	}
	log, err := a.logger(stderr)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	db, err := postgres.Open(ctx, settings, log)
	if err != nil {
		return nil, withCode(exitFailed, err)
	}
	if migrate {
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, withCode(exitFailed, err)
		}
	}
	return db, nil
}
