// Package jsonrec holds transforms that check and shape JSON records. It
// registers json.validate.
package jsonrec

import "github.com/etl-engine/etl/engine/component"

// ValidateName is the registered name of the validation transform.
const ValidateName = "json.validate"

// FieldRequiredPaths lists the dotted paths every record must have.
const FieldRequiredPaths = "required_paths"

// ValidateSpec describes json.validate.
var ValidateSpec = component.Spec{
	Name:    ValidateName,
	Kind:    component.KindTransform,
	Summary: "Rejects a window whose records are not JSON objects holding the required paths.",
	Fields: []component.Field{
		{Name: FieldRequiredPaths, Type: component.TypeStringList, Default: []string{"Id", "SyncToken", "MetaData.LastUpdatedTime"}, Description: "Dotted paths every record must have."},
	},
}
