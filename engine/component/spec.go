// Package component defines what the engine knows of loaders, transforms
// and exporters: their interfaces, the records that flow between them, the
// specs that describe their settings, and the registry where each connector
// registers itself under a namespaced name such as "qbo.query".
package component

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Kind is the role of a component in a pipeline.
type Kind string

// Component kinds.
const (
	KindLoader    Kind = "loader"
	KindTransform Kind = "transform"
	KindExporter  Kind = "exporter"
)

// FieldType is the type of a component setting.
type FieldType string

// Field types.
const (
	TypeString     FieldType = "string"
	TypeInteger    FieldType = "integer"
	TypeBoolean    FieldType = "boolean"
	TypeDuration   FieldType = "duration"   // Go duration such as 30s or 2m
	TypeIdentifier FieldType = "identifier" // PostgreSQL identifier, validated and quoted
	TypeStringList FieldType = "string_list"
)

// Field describes one setting under a component's "with" block.
type Field struct {
	Name        string
	Type        FieldType
	Description string
	Required    bool
	// Default is used when the field is absent. It must have the Go type the
	// field decodes to (string, int64, bool, time.Duration, []string).
	Default any
	// Secret fields accept only a ${secret:NAME} reference, never a literal,
	// and their values are redacted everywhere.
	Secret bool
	// Enum lists the allowed values of a string field, if restricted.
	Enum []string
	// Min and Max bound an integer field when non-nil.
	Min, Max *int64
}

// Spec describes a component: its registered name, kind and settings.
type Spec struct {
	// Name is namespaced: "<system>.<component>", lower case, e.g. qbo.query.
	Name    string
	Kind    Kind
	Summary string
	Fields  []Field
}

// Field returns the field with the given name.
func (s *Spec) Field(name string) (Field, bool) {
	i := slices.IndexFunc(s.Fields, func(f Field) bool { return f.Name == name })
	if i < 0 {
		return Field{}, false
	}
	return s.Fields[i], true
}

// FieldNames returns the names of all fields in declaration order.
func (s *Spec) FieldNames() []string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Name
	}
	return names
}

// Int64 is a helper for Field.Min and Field.Max.
func Int64(v int64) *int64 { return &v }

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// Registration is what a connector registers: a spec and, for each kind, the
// constructor. Exactly one constructor must match the spec's kind.
type Registration struct {
	Spec         Spec
	NewLoader    LoaderFactory
	NewTransform TransformFactory
	NewExporter  ExporterFactory
}

var registry = struct {
	sync.RWMutex
	byName map[string]*Registration
}{byName: map[string]*Registration{}}

// Register adds a component to the registry. It panics on an invalid name,
// a duplicate name, or a constructor that does not match the kind: these are
// programming errors found at start-up.
func Register(r Registration) {
	name := r.Spec.Name
	if !namePattern.MatchString(name) {
		panic(fmt.Sprintf("component: invalid name %q (want system.component, lower case)", name))
	}
	ok := false
	switch r.Spec.Kind {
	case KindLoader:
		ok = r.NewLoader != nil && r.NewTransform == nil && r.NewExporter == nil
	case KindTransform:
		ok = r.NewTransform != nil && r.NewLoader == nil && r.NewExporter == nil
	case KindExporter:
		ok = r.NewExporter != nil && r.NewLoader == nil && r.NewTransform == nil
	}
	if !ok {
		panic(fmt.Sprintf("component: %s: kind %q needs exactly its own constructor", name, r.Spec.Kind))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.byName[name]; dup {
		panic(fmt.Sprintf("component: %s registered twice", name))
	}
	registry.byName[name] = &r
}

// Lookup returns the registration of name.
func Lookup(name string) (*Registration, bool) {
	registry.RLock()
	defer registry.RUnlock()
	r, ok := registry.byName[name]
	return r, ok
}

// Names returns the registered names of the given kind, sorted.
func Names(kind Kind) []string {
	registry.RLock()
	defer registry.RUnlock()
	var out []string
	for n, r := range registry.byName {
		if r.Spec.Kind == kind {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// UnknownError explains an unknown component name.
func UnknownError(kind Kind, name string) string {
	names := Names(kind)
	msg := fmt.Sprintf("unknown %s %q", kind, name)
	if len(names) == 0 {
		return msg + " (no " + string(kind) + " is registered)"
	}
	return msg + " (known: " + strings.Join(names, ", ") + ")"
}
