package qbo

import (
	"context"
	"errors"

	"github.com/etl-engine/etl/engine/component"
)

func newLoader(context.Context, component.BuildContext, component.Settings) (component.Loader, error) {
	return nil, errors.New("qbo.query: not implemented yet")
}
