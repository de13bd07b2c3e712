package postgres

import "github.com/etl-engine/etl/engine/component"

func init() {
	component.Register(component.Registration{Spec: Spec, NewExporter: newExporter})
}
