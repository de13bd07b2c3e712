// Package schemas embeds the JSON Schemas of pipeline and trigger files.
// Editors use the same files through the yaml-language-server comment at
// the top of each YAML file.
package schemas

import _ "embed"

// Pipeline is the JSON Schema of pipeline files.
//
//go:embed pipeline.schema.json
var Pipeline []byte

// Trigger is the JSON Schema of trigger files.
//
//go:embed trigger.schema.json
var Trigger []byte
