package config_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	_ "github.com/etl-engine/etl/connectors/all"
	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/schemas"
)

// TestSpecsMatchSchema keeps the registered component specs and the
// $defs/with.<name> blocks of schemas/pipeline.schema.json in step: same
// settings, same required ones, and secret fields exactly those whose schema
// is a $ref to #/$defs/secret_ref. Editors validate with the schema and the
// engine with the specs; if they drift, users get different answers.
func TestSpecsMatchSchema(t *testing.T) {
	specs := registeredSpecs(t)
	for _, problem := range specSchemaDiffs(schemas.Pipeline, specs) {
		t.Error(problem)
	}
}

// TestSpecsMatchSchemaDetectsDrift proves the comparison above fails when
// the schema drifts from the specs in each way it checks.
func TestSpecsMatchSchemaDetectsDrift(t *testing.T) {
	specs := registeredSpecs(t)
	mutations := map[string]func(defs map[string]any){
		"setting removed": func(defs map[string]any) {
			delete(props(defs, "with.postgres.upsert"), "sslmode")
		},
		"setting added": func(defs map[string]any) {
			props(defs, "with.qbo.query")["page_sise"] = map[string]any{"type": "integer"}
		},
		"required dropped": func(defs map[string]any) {
			w := defs["with.postgres.upsert"].(map[string]any)
			w["required"] = []any{"table", "database", "user"}
		},
		"secret no longer secret": func(defs map[string]any) {
			props(defs, "with.qbo.query")["client_secret"] = map[string]any{"type": "string"}
		},
		"plain setting made secret": func(defs map[string]any) {
			props(defs, "with.postgres.upsert")["host"] = map[string]any{"$ref": "#/$defs/secret_ref"}
		},
		"block missing": func(defs map[string]any) {
			delete(defs, "with.json.validate")
		},
		"block for no component": func(defs map[string]any) {
			defs["with.csv.read"] = map[string]any{"type": "object", "additionalProperties": false}
		},
		"block never applied": func(defs map[string]any) {
			defs["exporter"].(map[string]any)["allOf"] = []any{}
		},
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(schemas.Pipeline, &doc); err != nil {
				t.Fatal(err)
			}
			mutate(doc["$defs"].(map[string]any))
			src, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if diffs := specSchemaDiffs(src, specs); len(diffs) == 0 {
				t.Error("the drifted schema passed the comparison")
			}
		})
	}
}

func props(defs map[string]any, block string) map[string]any {
	return defs[block].(map[string]any)["properties"].(map[string]any)
}

// registeredSpecs returns the spec of every registered component.
func registeredSpecs(t *testing.T) []component.Spec {
	t.Helper()
	var specs []component.Spec
	for _, k := range []component.Kind{component.KindLoader, component.KindTransform, component.KindExporter} {
		names := component.Names(k)
		if len(names) == 0 {
			t.Errorf("no %s is registered: is connectors/all imported?", k)
		}
		for _, name := range names {
			reg, ok := component.Lookup(name)
			if !ok {
				t.Fatalf("Names lists %s but Lookup does not find it", name)
			}
			specs = append(specs, reg.Spec)
		}
	}
	return specs
}

// specSchemaDiffs compares component specs with a pipeline schema and
// returns one line per difference.
func specSchemaDiffs(schemaJSON []byte, specs []component.Spec) []string {
	var schema struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(schemaJSON, &schema); err != nil {
		return []string{err.Error()}
	}
	var out []string
	registered := map[string]bool{}
	for _, spec := range specs {
		name := spec.Name
		registered[name] = true
		raw, ok := schema.Defs["with."+name]
		if !ok {
			out = append(out, fmt.Sprintf("%s: the schema has no $defs/with.%s block", name, name))
			continue
		}
		var w struct {
			Properties           map[string]map[string]any `json:"properties"`
			Required             []string                  `json:"required"`
			AdditionalProperties *bool                     `json:"additionalProperties"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if w.AdditionalProperties == nil || *w.AdditionalProperties {
			out = append(out, fmt.Sprintf("%s: $defs/with.%s must set additionalProperties: false", name, name))
		}
		var specNames, specRequired, specSecret []string
		for _, f := range spec.Fields {
			specNames = append(specNames, f.Name)
			if f.Required {
				specRequired = append(specRequired, f.Name)
			}
			if f.Secret {
				specSecret = append(specSecret, f.Name)
			}
		}
		var schemaNames, schemaSecret []string
		for prop, def := range w.Properties {
			schemaNames = append(schemaNames, prop)
			if def["$ref"] == "#/$defs/secret_ref" {
				schemaSecret = append(schemaSecret, prop)
			}
		}
		out = append(out, differ(name, "settings", specNames, schemaNames)...)
		out = append(out, differ(name, "required settings", specRequired, w.Required)...)
		out = append(out, differ(name, "secret settings", specSecret, schemaSecret)...)
		if !applies(schema.Defs[string(spec.Kind)], name) {
			out = append(out, fmt.Sprintf("%s: $defs/%s never applies $defs/with.%s (no if use: %s then with: $ref)", name, spec.Kind, name, name))
		}
	}
	for def := range schema.Defs {
		if name, ok := strings.CutPrefix(def, "with."); ok && !registered[name] {
			out = append(out, fmt.Sprintf("the schema has $defs/%s but no component %s is registered", def, name))
		}
	}
	slices.Sort(out)
	return out
}

// choice is one if/then of a kind's $defs block: when use is a name, with
// follows $defs/with.<name>.
type choice struct {
	If struct {
		Properties struct {
			Use struct {
				Const string `json:"const"`
			} `json:"use"`
		} `json:"properties"`
	} `json:"if"`
	Then struct {
		Properties struct {
			With struct {
				Ref string `json:"$ref"`
			} `json:"with"`
		} `json:"properties"`
	} `json:"then"`
}

// applies tells whether the $defs block of a kind (loader, transform,
// exporter) applies with.<name> when use is name.
func applies(raw json.RawMessage, name string) bool {
	var block struct {
		AllOf []choice `json:"allOf"`
	}
	if json.Unmarshal(raw, &block) != nil {
		return false
	}
	return slices.ContainsFunc(block.AllOf, func(c choice) bool {
		return c.If.Properties.Use.Const == name && c.Then.Properties.With.Ref == "#/$defs/with."+name
	})
}

func differ(name, what string, spec, schema []string) []string {
	spec, schema = slices.Sorted(slices.Values(spec)), slices.Sorted(slices.Values(schema))
	if slices.Equal(spec, schema) {
		return nil
	}
	return []string{fmt.Sprintf("%s: %s differ:\n  spec:   %v\n  schema: %v", name, what, spec, schema)}
}
