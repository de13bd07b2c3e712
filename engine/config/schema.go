package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/etl-engine/etl/engine/diag"
	"github.com/etl-engine/etl/schemas"
)

// schemaSet is a compiled schema plus its raw JSON, which is used to list
// the allowed keys at a location for "did you mean" hints.
type schemaSet struct {
	url      string
	compiled *jsonschema.Schema
	raw      map[string]any
}

var (
	pipelineSchema = sync.OnceValues(func() (*schemaSet, error) { return compileSchema("pipeline.schema.json", schemas.Pipeline) })
	triggerSchema  = sync.OnceValues(func() (*schemaSet, error) { return compileSchema("trigger.schema.json", schemas.Trigger) })
)

func compileSchema(name string, src []byte) (*schemaSet, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("embedded schema %s: %w", name, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(src, &raw); err != nil {
		return nil, fmt.Errorf("embedded schema %s: %w", name, err)
	}
	url := "embedded:///" + name
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("embedded schema %s: %w", name, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("embedded schema %s: %w", name, err)
	}
	return &schemaSet{url: url, compiled: s, raw: raw}, nil
}

// validate checks doc against the schema and appends one diagnostic per
// leaf failure, positioned on the offending key or value. It returns the
// pointers that failed, so later checks can skip them.
func (s *schemaSet) validate(doc *Document, ds *diag.List) map[string]bool {
	failed := map[string]bool{}
	err := s.compiled.Validate(doc.Data)
	if err == nil {
		return failed
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		ds.Errorf(doc.File, 1, 1, "", "schema validation: %v", err)
		return failed
	}
	for _, leaf := range s.leaves(ve) {
		s.report(doc, leaf, ds, failed)
	}
	return failed
}

// leaves flattens a validation error tree to the failures worth showing.
// Under anyOf, the branch that only accepts a ${...} reference is dropped
// when the value is not a reference, so "expected integer" is shown rather
// than "does not match pattern".
func (s *schemaSet) leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		if _, isRef := e.ErrorKind.(*kind.Reference); isRef {
			return nil
		}
		return []*jsonschema.ValidationError{e}
	}
	causes := e.Causes
	if _, any := e.ErrorKind.(*kind.AnyOf); any {
		var kept []*jsonschema.ValidationError
		for _, c := range causes {
			if !strings.Contains(c.SchemaURL, "$defs/ref") {
				kept = append(kept, c)
			}
		}
		if len(kept) > 0 {
			causes = kept
		}
	}
	var out []*jsonschema.ValidationError
	for _, c := range causes {
		out = append(out, s.leaves(c)...)
	}
	return out
}

func (s *schemaSet) report(doc *Document, e *jsonschema.ValidationError, ds *diag.List, failed map[string]bool) {
	ptr := pointerOf(e.InstanceLocation...)
	where := displayPath(ptr)
	line, col := doc.Pos(ptr)
	add := func(p string, l, c int, hint, format string, args ...any) {
		failed[p] = true
		d := ds.Errorf(doc.File, l, c, p, format, args...)
		d.Hint = hint
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed := s.propertiesAt(e.SchemaURL)
		for _, name := range k.Properties {
			p := ptr + "/" + escapePointer(name)
			l, c := doc.KeyPos(p)
			hint := didYouMean(name, allowed)
			if hint == "" && len(allowed) > 0 {
				hint = "allowed keys: " + strings.Join(allowed, ", ")
			}
			add(p, l, c, hint, "unknown key %q in %s", name, where)
		}
	case *kind.Required:
		l, c := doc.KeyPos(ptr)
		for _, name := range k.Missing {
			add(ptr+"/"+escapePointer(name), l, c, "", "missing required key %q in %s", name, where)
		}
	case *kind.Type:
		add(ptr, line, col, "", "%s: expected %s, got %s", where, strings.Join(k.Want, " or "), describe(doc, ptr, k.Got))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		got := fmt.Sprint(k.Got)
		add(ptr, line, col, didYouMean(got, want), "%s: %q is not one of %s", where, got, strings.Join(want, ", "))
	case *kind.Const:
		add(ptr, line, col, "", "%s: must be %v, got %v", where, jsonText(k.Want), jsonText(k.Got))
	case *kind.Minimum:
		add(ptr, line, col, "", "%s: %s is below the minimum %s", where, ratText(k.Got), ratText(k.Want))
	case *kind.Maximum:
		add(ptr, line, col, "", "%s: %s is above the maximum %s", where, ratText(k.Got), ratText(k.Want))
	case *kind.UniqueItems:
		add(ptr, line, col, "", "%s: items %d and %d are the same", where, k.Duplicates[0], k.Duplicates[1])
	case *kind.Pattern:
		add(ptr, line, col, "", "%s: %q is not a valid reference such as ${params.NAME}", where, k.Got)
	case *kind.FalseSchema:
		add(ptr, line, col, "", "%s is not allowed here", where)
	default:
		add(ptr, line, col, "", "%s: %s", where, e.Error())
	}
}

// describe names the type of a value for a type error, quoting short
// strings so the user sees what was written.
func describe(doc *Document, ptr, got string) string {
	if n, ok := doc.Node(ptr); ok && got == "string" && len(n.Value) <= 40 {
		return "string " + fmt.Sprintf("%q", n.Value)
	}
	switch got {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	}
	return got
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func ratText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return fmt.Sprint(f)
}

// propertiesAt lists the property names of the schema object at schemaURL
// (the location of an additionalProperties keyword).
func (s *schemaSet) propertiesAt(schemaURL string) []string {
	u, err := url.Parse(schemaURL)
	if err != nil {
		return nil
	}
	frag := strings.TrimSuffix(u.Fragment, "/additionalProperties")
	var node any = s.raw
	for _, seg := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if seg == "" {
			continue
		}
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[unescapePointer(seg)]
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil
	}
	// A $ref'd object (such as a loader) lists its properties in the target.
	if ref, ok := m["$ref"].(string); ok && m["properties"] == nil {
		return s.propertiesAt(s.url + ref)
	}
	props, _ := m["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
