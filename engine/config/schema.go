package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"gopkg.in/yaml.v3"

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
	for p := range doc.bad {
		failed[p] = true
	}
	err := s.compiled.Validate(doc.Data)
	if err == nil {
		return failed
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		ds.Errorf(doc.File, 1, 1, "", "schema validation: %v", err)
		return failed
	}
	leaves := s.leaves(ve)
	// A key that is missing and an unknown key that looks like it are one
	// typo: report the unknown key with its "did you mean", not both.
	typos := map[string]bool{}
	for _, e := range leaves {
		if k, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
			allowed := s.propertiesAt(e.SchemaURL)
			for _, name := range k.Properties {
				if m := suggest(name, allowed); m != "" {
					typos[pointerOf(e.InstanceLocation...)+"/"+escapePointer(m)] = true
				}
			}
		}
	}
	for _, leaf := range leaves {
		s.report(doc, leaf, ds, failed, typos)
	}
	return failed
}

// leaves flattens a validation error tree to the failures worth showing.
// Under anyOf, the branch that only accepts a ${...} reference is dropped
// when another branch remains, so "expected integer" or "above the maximum"
// is shown rather than "does not match pattern" as well.
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
			if !isRefBranch(c) {
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

// refDef is the schema location of a ${...} reference.
const refDef = "#/$defs/ref"

// isRefBranch tells whether a failed anyOf branch is the one that accepts
// only a reference: the ref definition itself, or a $ref to it.
func isRefBranch(e *jsonschema.ValidationError) bool {
	if strings.HasSuffix(e.SchemaURL, refDef) {
		return true
	}
	if r, ok := e.ErrorKind.(*kind.Reference); ok {
		return strings.HasSuffix(r.URL, refDef)
	}
	return false
}

func (s *schemaSet) report(doc *Document, e *jsonschema.ValidationError, ds *diag.List, failed, typos map[string]bool) {
	ptr := pointerOf(e.InstanceLocation...)
	if doc.bad[ptr] {
		return // reported while parsing
	}
	if strings.HasSuffix(e.SchemaURL, "#/$defs/secret_ref") {
		// The secret field check says it better, and never shows the value.
		return
	}
	if n, ok := doc.Node(ptr); ok && n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		if _, _, err := ParseTemplate(n.Value); err != nil {
			return // a broken reference, reported by the reference check
		}
	}
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
			p := ptr + "/" + escapePointer(name)
			if typos[p] {
				failed[p] = true
				continue
			}
			add(p, l, c, "", "missing required key %q in %s", name, where)
		}
	case *kind.Type:
		if strings.HasSuffix(e.SchemaURL, "#/$defs/duration") {
			add(ptr, line, col, DurationHint, "%s: expected a duration, got %s", where, describe(doc, ptr, k.Got))
			break
		}
		add(ptr, line, col, "", "%s: expected %s, got %s", where, wantText(k.Want), describe(doc, ptr, k.Got))
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
		dup := ptr + "/" + strconv.Itoa(k.Duplicates[1])
		l, c := doc.Pos(dup)
		what := "an item"
		if n, ok := doc.Node(dup); ok && n.Kind == yaml.ScalarNode {
			what = strconv.Quote(n.Value)
		}
		add(ptr, l, c, "remove the repeated item", "%s: %s is listed twice", where, what)
	case *kind.Pattern:
		add(ptr, line, col, "", "%s: %q is not a valid reference such as ${params.NAME}", where, k.Got)
	case *kind.FalseSchema:
		add(ptr, line, col, "", "%s is not allowed here", where)
	default:
		add(ptr, line, col, "", "%s: %s", where, e.Error())
	}
}

// describe names the type of a value for a type error, with the value as
// written when it is a short scalar.
func describe(doc *Document, ptr, got string) string {
	switch got {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "null":
		return "nothing (null)"
	}
	if n, ok := doc.Node(ptr); ok && n.Kind == yaml.ScalarNode && len(n.Value) <= 40 {
		switch {
		case got == "string":
			return "string " + fmt.Sprintf("%q", n.Value)
		case n.Tag == "!!int":
			return "integer " + n.Value
		}
		return got + " " + n.Value
	}
	return got
}

// wantText lists the expected JSON types: "string", "string or integer".
func wantText(want []string) string {
	switch len(want) {
	case 0:
		return "nothing"
	}
	if slices.Contains(want, "number") {
		want = slices.DeleteFunc(slices.Clone(want), func(w string) bool { return w == "integer" })
	}
	names := make([]string, len(want))
	for i, w := range want {
		switch w {
		case "array":
			names[i] = "a list"
		case "object":
			names[i] = "a mapping"
		default:
			names[i] = w
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
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
