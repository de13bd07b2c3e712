package jsonrec

import (
	"context"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/retry"
)

func init() {
	component.Register(component.Registration{Spec: ValidateSpec, NewTransform: newValidate})
}

// Validate rejects pages holding records that are not JSON objects or lack
// a required path. A rejected page fails its window, which is then retried
// as a whole: no partial window is ever committed.
type Validate struct {
	paths []string
}

func newValidate(_ context.Context, _ component.BuildContext, s component.Settings) (component.Transform, error) {
	return NewValidate(s.Strings(FieldRequiredPaths)), nil
}

// NewValidate returns a transform requiring the given dotted paths.
func NewValidate(paths []string) *Validate { return &Validate{paths: paths} }

// Start implements component.Transform.
func (v *Validate) Start(plan.Window) component.PageFunc {
	return func(_ context.Context, p *component.Page) error {
		for i, r := range p.Records {
			if !gjson.ValidBytes(r.Payload) {
				return retry.Mark(retry.Malformed, fmt.Errorf("json.validate: page %d record %d (id %q) is not valid JSON", p.Number, i+1, r.ID))
			}
			doc := gjson.ParseBytes(r.Payload)
			if !doc.IsObject() {
				return retry.Mark(retry.Malformed, fmt.Errorf("json.validate: page %d record %d (id %q) is not a JSON object", p.Number, i+1, r.ID))
			}
			for _, path := range v.paths {
				if !doc.Get(path).Exists() {
					return retry.Mark(retry.Malformed, fmt.Errorf("json.validate: page %d record %d (id %q) has no %s", p.Number, i+1, r.ID, path))
				}
			}
		}
		return nil
	}
}
