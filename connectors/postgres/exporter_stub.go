package postgres

import (
	"context"
	"errors"

	"github.com/etl-engine/etl/engine/component"
)

func newExporter(context.Context, component.BuildContext, component.Settings) (component.Exporter, error) {
	return nil, errors.New("postgres.upsert: not implemented yet")
}
