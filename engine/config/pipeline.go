package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/diag"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/retry"
)

// Pipeline is a pipeline file that passed its static checks. Values that
// depend on parameters, the environment or secrets are resolved by Bind.
type Pipeline struct {
	File        string
	Doc         *Document
	Name        string
	Description string
	Params      []ParamSpec
	Segmentation
	Loader     ComponentUse
	Transforms []ComponentUse
	Exporter   ComponentUse
	Retry      retry.Policy
	RateLimit  component.RateLimit
	Timeouts   component.Timeouts
	// WindowConcurrency is how many windows are loaded at once.
	WindowConcurrency int
}

// Segmentation is how the range is cut into windows.
type Segmentation struct {
	CursorField string
	Step        plan.Step
	Location    *time.Location
	// StartExpr and EndExpr are the raw start and end, resolved by Bind.
	StartExpr, EndExpr string
}

// ParamType is the type of a pipeline parameter.
type ParamType string

// Parameter types.
const (
	ParamTimestamp ParamType = "timestamp"
	ParamInteger   ParamType = "integer"
	ParamString    ParamType = "string"
	ParamBoolean   ParamType = "boolean"
	ParamDuration  ParamType = "duration"
)

// ParamSpec declares a parameter.
type ParamSpec struct {
	Name        string
	Type        ParamType
	Description string
	Required    bool
	// Default is the typed default (time.Time, int64, string, bool or
	// time.Duration); HasDefault tells whether there is one.
	Default    any
	HasDefault bool
	Min, Max   *int64
	pointer    string
}

// Param returns the declared parameter name.
func (p *Pipeline) Param(name string) (ParamSpec, bool) {
	i := slices.IndexFunc(p.Params, func(ps ParamSpec) bool { return ps.Name == name })
	if i < 0 {
		return ParamSpec{}, false
	}
	return p.Params[i], true
}

// ParamNames returns the declared parameter names in file order.
func (p *Pipeline) ParamNames() []string {
	out := make([]string, len(p.Params))
	for i, ps := range p.Params {
		out[i] = ps.Name
	}
	return out
}

// ComponentUse is one component of the chain as written in the file.
type ComponentUse struct {
	Use  string
	Kind component.Kind
	Reg  *component.Registration
	// With holds the raw settings (before references are resolved).
	With    map[string]any
	pointer string
}

// Defaults for engine-level settings not written in a file.
const (
	DefaultRequestsPerMinute = 450
	DefaultMaxConcurrent     = 4
	DefaultRequestTimeout    = 120 * time.Second
	DefaultWindowTimeout     = 30 * time.Minute
	DefaultWindowConcurrency = 2
)

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// secretKeyWords find keys whose values are secrets by their name, so a
// literal is refused even in a field no spec marks as secret.
var secretKeyWords = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "privatekey", "private_key", "credential"}

// isSecretKey tells whether a key names a secret: it contains one of
// secretKeyWords, in any case. (A plain loop: a regular expression here was
// a sixth of the time of linting a file.)
func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretKeyWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// LoadPipeline reads and checks a pipeline file. It returns the pipeline
// (nil when the file is unusable) and every diagnostic found.
func LoadPipeline(file string) (*Pipeline, diag.List) {
	src, err := ReadFile(file)
	if err != nil {
		var ds diag.List
		ds.Errorf(file, 0, 0, "", "cannot read pipeline: %v", err)
		return nil, ds
	}
	return ParsePipeline(file, src)
}

// ParsePipeline checks a pipeline held in memory; file names it in
// diagnostics.
func ParsePipeline(file string, src []byte) (*Pipeline, diag.List) {
	doc, ds := Parse(file, src)
	if doc == nil {
		return nil, ds
	}
	return PipelineFromDoc(doc, ds)
}

// PipelineFromDoc checks a parsed document as a pipeline; ds holds what
// Parse reported.
func PipelineFromDoc(doc *Document, ds diag.List) (*Pipeline, diag.List) {
	file := doc.File
	schema, err := pipelineSchema()
	if err != nil {
		ds.Errorf(file, 0, 0, "", "%v", err)
		return nil, ds
	}
	failed := schema.validate(doc, &ds)
	c := newChecker(doc, &ds, failed)
	p := c.pipeline()
	return p, ds.Sort()
}

// checker runs the static checks of a pipeline document.
type checker struct {
	doc    *Document
	ds     *diag.List
	failed map[string]bool
	// secretRefs holds the pointers of values that hold a whole
	// ${secret:NAME}; secretFields and plainFields the pointers of the
	// secret and non-secret settings of known components.
	secretRefs   map[string]bool
	secretFields map[string]bool
	plainFields  map[string]bool
	// components lists the pointers of the component blocks seen.
	components []string
	// trigger is set when checking a trigger file.
	trigger bool
}

func newChecker(doc *Document, ds *diag.List, failed map[string]bool) *checker {
	return &checker{doc: doc, ds: ds, failed: failed,
		secretRefs: map[string]bool{}, secretFields: map[string]bool{}, plainFields: map[string]bool{}}
}

func (c *checker) errorf(ptr, hint, format string, args ...any) {
	l, col := c.doc.Pos(ptr)
	d := c.ds.Errorf(c.doc.File, l, col, ptr, format, args...)
	d.Hint = hint
	c.failed[ptr] = true
}

func (c *checker) warnf(ptr, hint, format string, args ...any) {
	l, col := c.doc.Pos(ptr)
	d := c.ds.Warnf(c.doc.File, l, col, ptr, format, args...)
	d.Hint = hint
}

// str returns the string at ptr if present and valid so far.
func (c *checker) str(ptr string) (string, bool) {
	if c.failed[ptr] {
		return "", false
	}
	v, ok := c.value(ptr).(string)
	return v, ok
}

// value returns the plain value at ptr.
func (c *checker) value(ptr string) any {
	var cur any = c.doc.Data
	if ptr == "" {
		return cur
	}
	for _, seg := range strings.Split(ptr[1:], "/") {
		switch x := cur.(type) {
		case map[string]any:
			cur = x[unescapePointer(seg)]
		case []any:
			i := 0
			if _, err := fmt.Sscan(seg, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	return cur
}

func (c *checker) pipeline() *Pipeline {
	p := &Pipeline{
		File:              c.doc.File,
		Doc:               c.doc,
		Retry:             retry.DefaultPolicy(),
		RateLimit:         component.RateLimit{RequestsPerMinute: DefaultRequestsPerMinute, MaxConcurrent: DefaultMaxConcurrent},
		Timeouts:          component.Timeouts{Request: DefaultRequestTimeout, Window: DefaultWindowTimeout},
		WindowConcurrency: DefaultWindowConcurrency,
	}
	if name, ok := c.str("/name"); ok {
		p.Name = name
		stem := strings.TrimSuffix(filepath.Base(c.doc.File), filepath.Ext(c.doc.File))
		switch {
		case !namePattern.MatchString(name):
			c.errorf("/name", "use lower-case letters, digits and underscores, e.g. qb_items_backfill", "pipeline name %q is not a valid name", name)
		case name != stem:
			c.warnf("/name", "name the file "+name+".yaml, or change the name to "+stem, "pipeline name %q differs from its file name %q", name, stem)
		}
	}
	p.Description, _ = c.str("/description")
	c.params(p)
	c.references(p)
	c.segmentation(p)
	p.Loader, _ = c.component("/loader", component.KindLoader)
	if items, ok := c.value("/transforms").([]any); ok {
		for i := range items {
			cu, _ := c.component(fmt.Sprintf("/transforms/%d", i), component.KindTransform)
			p.Transforms = append(p.Transforms, cu)
		}
	}
	p.Exporter, _ = c.component("/exporter", component.KindExporter)
	c.secretPlacement()
	c.literalSecrets("", c.doc.Data)
	c.retry(p)
	c.limits(p)
	return p
}

func (c *checker) params(p *Pipeline) {
	m, ok := c.value("/parameters").(map[string]any)
	if !ok {
		return
	}
	// Keep file order for listing and help.
	root, _ := c.doc.Node("/parameters")
	for i := 0; root != nil && i+1 < len(root.Content); i += 2 {
		name := root.Content[i].Value
		ptr := pointerOf("parameters", name)
		raw, ok := m[name].(map[string]any)
		if !ok || c.failed[ptr] || c.failed[ptr+"/type"] {
			continue
		}
		if !isName(name) {
			c.errorf(ptr, "", "parameter name %q must be letters, digits and underscores", name)
			continue
		}
		ps := ParamSpec{Name: name, Type: ParamType(fmt.Sprint(raw["type"])), pointer: ptr}
		ps.Description, _ = raw["description"].(string)
		ps.Required, _ = raw["required"].(bool)
		if v, ok := raw["minimum"].(int64); ok {
			ps.Min = &v
		}
		if v, ok := raw["maximum"].(int64); ok {
			ps.Max = &v
		}
		if (ps.Min != nil || ps.Max != nil) && ps.Type != ParamInteger {
			c.errorf(ptr, "", "parameter %s: minimum and maximum apply only to integer parameters", name)
		}
		if ps.Min != nil && ps.Max != nil && *ps.Min > *ps.Max {
			c.errorf(ptr+"/minimum", "", "parameter %s: minimum %d is above maximum %d", name, *ps.Min, *ps.Max)
		}
		if def, has := raw["default"]; has {
			if ps.Required {
				c.warnf(ptr+"/required", "drop required: true, or drop the default", "parameter %s is required but has a default, which is never used", name)
			}
			v, err := ps.Coerce(def)
			if err != nil {
				c.errorf(ptr+"/default", ps.errHint(err), "parameter %s default: %v", name, err)
			} else {
				ps.Default, ps.HasDefault = v, true
			}
		}
		p.Params = append(p.Params, ps)
	}
}

// Coerce converts a raw value (from YAML or the command line) to the
// parameter's type and checks its bounds.
func (ps ParamSpec) Coerce(v any) (any, error) {
	switch ps.Type {
	case ParamTimestamp:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("expected a timestamp, got %s", typeName(v))
		}
		return ParseTimestamp(s)
	case ParamInteger:
		i, err := coerceInt(v)
		if err != nil {
			return nil, err
		}
		if ps.Min != nil && i < *ps.Min || ps.Max != nil && i > *ps.Max {
			return nil, &rangeError{fmt.Sprintf("%d is out of range %s", i, ps.rangeText())}
		}
		return i, nil
	case ParamBoolean:
		return coerceBool(v)
	case ParamDuration:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("expected a duration, got %s", typeName(v))
		}
		return ParseDuration(s)
	default:
		return coerceString(v)
	}
}

func (ps ParamSpec) rangeText() string {
	lo, hi := "…", "…"
	if ps.Min != nil {
		lo = fmt.Sprint(*ps.Min)
	}
	if ps.Max != nil {
		hi = fmt.Sprint(*ps.Max)
	}
	return lo + ".." + hi
}

// rangeError is a value outside its bounds; its message already states them.
type rangeError struct{ msg string }

func (e *rangeError) Error() string { return e.msg }

// errHint returns the hint for a Coerce error: none when the message says
// it all.
func (ps ParamSpec) errHint(err error) string {
	if _, ok := err.(*rangeError); ok {
		return ""
	}
	return ps.hint()
}

func (ps ParamSpec) hint() string {
	switch ps.Type {
	case ParamTimestamp:
		return TimestampHint
	case ParamDuration:
		return DurationHint
	case ParamInteger:
		if ps.Min != nil || ps.Max != nil {
			return "allowed range: " + ps.rangeText()
		}
	}
	return ""
}

// references parses every ${...} in the file: syntax, unknown parameters,
// secrets spliced into text, and environment variables that are unset and
// have no default.
func (c *checker) references(p *Pipeline) {
	// Every name written under parameters counts as declared, even one whose
	// declaration has an error of its own (reported there).
	var params []string
	if m, ok := c.value("/parameters").(map[string]any); ok {
		for name := range m {
			params = append(params, name)
		}
		slices.Sort(params)
	}
	c.walkStrings("", c.doc.Data, func(ptr, s string) {
		t, off, err := ParseTemplate(s)
		if err != nil {
			l, col := c.scalarPos(ptr, off)
			d := c.ds.Errorf(c.doc.File, l, col, ptr, "%v", err)
			d.Hint = TemplateHint(err)
			c.failed[ptr] = true
			return
		}
		whole, isWhole := t.Whole()
		for _, r := range t.Refs() {
			switch r.Kind {
			case RefSecret:
				if isWhole && whole == r {
					c.secretRefs[ptr] = true
					break
				}
				l, col := c.scalarPos(ptr, r.Offset)
				d := c.ds.Errorf(c.doc.File, l, col, ptr, "${secret:%s} cannot be part of a longer string", r.Name)
				d.Hint = "a secret takes a field of its own, such as password: ${secret:" + r.Name + "}, so that it is never logged"
				c.failed[ptr] = true
			case RefParam:
				if !slices.Contains(params, r.Name) {
					l, col := c.scalarPos(ptr, r.Offset)
					d := c.ds.Errorf(c.doc.File, l, col, ptr, "reference to undeclared parameter %q", r.Name)
					d.Hint = didYouMean(r.Name, params)
					if d.Hint == "" {
						d.Hint = "declare it under parameters:"
					}
					c.failed[ptr] = true
				}
			case RefEnv:
				if _, set := os.LookupEnv(r.Name); !set && !r.HasDefault {
					l, col := c.scalarPos(ptr, r.Offset)
					d := c.ds.Warnf(c.doc.File, l, col, ptr, "environment variable %s is not set and has no default", r.Name)
					d.Hint = "set it before running, or give a default: ${env:" + r.Name + ":-value}"
				}
			}
		}
	})
}

// scalarPos returns the position of byte offset off inside the scalar at
// ptr: exact for plain and quoted single-line scalars.
func (c *checker) scalarPos(ptr string, off int) (int, int) {
	n, ok := c.doc.Node(ptr)
	if !ok {
		return c.doc.Pos(ptr)
	}
	col := n.Column
	if n.Style&(yamlDoubleQuoted|yamlSingleQuoted) != 0 {
		col++
	}
	// The offset maps to a column only when the value is written as is on
	// its line: not folded over several lines, nor holding escapes.
	if !c.doc.writtenAt(n.Line, col, n.Value) {
		return n.Line, n.Column
	}
	return n.Line, col + utf8.RuneCountInString(n.Value[:min(off, len(n.Value))])
}

func (c *checker) walkStrings(ptr string, v any, fn func(ptr, s string)) {
	switch x := v.(type) {
	case string:
		fn(ptr, x)
	case map[string]any:
		for k, child := range x {
			c.walkStrings(ptr+"/"+escapePointer(k), child, fn)
		}
	case []any:
		for i, child := range x {
			c.walkStrings(fmt.Sprintf("%s/%d", ptr, i), child, fn)
		}
	}
}

func (c *checker) segmentation(p *Pipeline) {
	p.Location = time.UTC
	if f, ok := c.str("/segmentation/cursor_field"); ok {
		if strings.TrimSpace(f) == "" {
			c.errorf("/segmentation/cursor_field", "", "segmentation.cursor_field is empty")
		}
		p.CursorField = f
	}
	if s, ok := c.str("/segmentation/step"); ok {
		step, err := plan.ParseStep(s)
		if err != nil {
			c.errorf("/segmentation/step", "", "segmentation.step: %v", err)
		}
		p.Step = step
	}
	if tz, ok := c.str("/segmentation/timezone"); ok {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "" || tz == "Local" {
			c.errorf("/segmentation/timezone", "use an IANA name such as UTC or America/Guayaquil", "segmentation.timezone: unknown time zone %q", tz)
		} else {
			p.Location = loc
		}
	}
	bounds := map[string]time.Time{}
	where := map[string]ParamValue{}
	for _, key := range []string{"start", "end"} {
		ptr := "/segmentation/" + key
		s, ok := c.str(ptr)
		if !ok {
			continue
		}
		if key == "start" {
			p.StartExpr = s
		} else {
			p.EndExpr = s
		}
		t, _, err := ParseTemplate(s)
		if err != nil {
			continue
		}
		if ref, whole := t.Whole(); whole {
			if ref.Kind == RefParam {
				ps, ok := p.Param(ref.Name)
				switch {
				case ok && ps.Type != ParamTimestamp:
					c.errorf(ptr, "declare it with type: timestamp", "segmentation.%s refers to parameter %s of type %s, not timestamp", key, ref.Name, ps.Type)
				case ok && ps.HasDefault:
					bounds[key] = ps.Default.(time.Time)
					l, col := c.doc.Pos(ps.pointer + "/default")
					where[ps.Name] = ParamValue{File: c.doc.File, Line: l, Col: col, Pointer: ps.pointer + "/default"}
				}
			}
			continue
		}
		if len(t.Refs()) > 0 {
			c.errorf(ptr, "use a whole reference such as ${params.fecha_inicio}", "segmentation.%s mixes text and references", key)
			continue
		}
		ts, err := ParseTimestamp(s)
		if err != nil {
			c.errorf(ptr, TimestampHint, "segmentation.%s: %v", key, err)
			continue
		}
		bounds[key] = ts
	}
	// A range known without the command line (literals, defaults) must not
	// be empty. Bind checks it again with the values of a run.
	start, okS := bounds["start"]
	end, okE := bounds["end"]
	if okS && okE && !end.After(start) {
		endNotAfterStart(c.ds, p, start, end, where)
	}
}

// component checks a loader, transform or exporter block.
func (c *checker) component(ptr string, kind component.Kind) (ComponentUse, bool) {
	cu := ComponentUse{Kind: kind, pointer: ptr}
	c.components = append(c.components, ptr)
	use, ok := c.str(ptr + "/use")
	if !ok {
		return cu, false
	}
	cu.Use = use
	cu.With, _ = c.value(ptr + "/with").(map[string]any)
	reg, found := component.Lookup(use)
	if !found || reg.Spec.Kind != kind {
		names := component.Names(kind)
		hint := didYouMean(use, names)
		if hint == "" && len(names) > 0 {
			hint = "known " + string(kind) + "s: " + strings.Join(names, ", ")
		}
		if found {
			c.errorf(ptr+"/use", hint, "%s is %s %s, not %s %s", use, article(string(reg.Spec.Kind)), reg.Spec.Kind, article(string(kind)), kind)
		} else {
			c.errorf(ptr+"/use", hint, "unknown %s %q", kind, use)
		}
		return cu, false
	}
	cu.Reg = reg
	spec := &reg.Spec
	// Unknown keys are normally caught by the schema; this covers components
	// that have no schema definition yet.
	for key := range cu.With {
		kp := ptr + "/with/" + escapePointer(key)
		if _, ok := spec.Field(key); !ok && !c.failed[kp] {
			l, col := c.doc.KeyPos(kp)
			d := c.ds.Errorf(c.doc.File, l, col, kp, "unknown key %q in %s.with", key, displayPath(ptr))
			d.Hint = didYouMean(key, spec.FieldNames())
			c.failed[kp] = true
		}
	}
	for _, f := range spec.Fields {
		fp := ptr + "/with/" + escapePointer(f.Name)
		if f.Secret {
			c.secretFields[fp] = true
		} else {
			c.plainFields[fp] = true
		}
		raw, present := cu.With[f.Name]
		if !present {
			if f.Required && !c.failed[fp] && !c.failed[ptr] {
				l, col := c.doc.KeyPos(ptr + "/with")
				if !c.doc.Has(ptr + "/with") {
					l, col = c.doc.KeyPos(ptr)
				}
				c.ds.Errorf(c.doc.File, l, col, fp, "missing required key %q in %s.with", f.Name, displayPath(ptr))
				c.failed[fp] = true
			}
			continue
		}
		if c.failed[fp] {
			continue
		}
		c.field(fp, f, raw)
	}
	return cu, true
}

// field checks one literal component setting; references are checked when
// bound.
func (c *checker) field(ptr string, f component.Field, raw any) {
	s, isString := raw.(string)
	if f.Secret {
		t, _, err := ParseTemplate(s)
		ref, whole := t.Whole()
		switch {
		case isLiteral(raw) || raw == true || raw == false:
			c.errorf(ptr, "write ${secret:NAME} and set NAME in the environment or a secret file; the value here is not shown", "%s is a secret field and holds a literal value: secrets never go in pipeline files", displayPath(ptr))
		case !isString:
			c.errorf(ptr, "write ${secret:NAME} and set NAME in the environment or a secret file", "%s is a secret field: it takes only a ${secret:NAME} reference, not %s", displayPath(ptr), typeName(raw))
		case err != nil:
			// already reported by references
		case !whole || ref.Kind != RefSecret:
			if s == "" {
				c.errorf(ptr, "write ${secret:NAME} and set NAME in the environment or a secret file", "%s is a secret field: it takes only a ${secret:NAME} reference, not an empty string", displayPath(ptr))
			} else {
				c.errorf(ptr, "write ${secret:NAME}", "%s is a secret field: it takes only a ${secret:NAME} reference", displayPath(ptr))
			}
		}
		return
	}
	if isString {
		if t, _, err := ParseTemplate(s); err != nil || len(t.Refs()) > 0 {
			return
		}
	}
	if err := CheckFieldValue(f, raw); err != nil {
		c.errorf(ptr, fieldHint(f, raw), "%s: %v", displayPath(ptr), err)
	}
}

// CheckFieldValue checks a resolved value against a field's type and
// constraints, returning the decoded value.
func CheckFieldValue(f component.Field, raw any) error {
	_, err := DecodeField(f, raw)
	return err
}

// DecodeField converts a resolved value to the Go type of its field and
// checks its constraints.
func DecodeField(f component.Field, raw any) (any, error) {
	switch f.Type {
	case component.TypeInteger:
		i, err := coerceInt(raw)
		if err != nil {
			return nil, err
		}
		if f.Min != nil && i < *f.Min || f.Max != nil && i > *f.Max {
			return nil, fmt.Errorf("%d is out of range %s", i, boundsText(f.Min, f.Max))
		}
		return i, nil
	case component.TypeBoolean:
		return coerceBool(raw)
	case component.TypeDuration:
		s, err := coerceString(raw)
		if err != nil {
			return nil, err
		}
		return ParseDuration(s)
	case component.TypeIdentifier:
		s, err := coerceString(raw)
		if err != nil {
			return nil, err
		}
		if err := ValidateIdentifier(s); err != nil {
			return nil, err
		}
		return s, nil
	case component.TypeStringList:
		items, ok := raw.([]any)
		if !ok {
			if ss, ok := raw.([]string); ok {
				return ss, nil
			}
			return nil, fmt.Errorf("expected a list of strings, got %s", typeName(raw))
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("expected a list of strings, found %s", typeName(it))
			}
			out = append(out, s)
		}
		return out, nil
	default:
		s, err := coerceString(raw)
		if err != nil {
			return nil, err
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(f.Enum, ", "))
		}
		return s, nil
	}
}

func boundsText(lo, hi *int64) string {
	l, h := "…", "…"
	if lo != nil {
		l = fmt.Sprint(*lo)
	}
	if hi != nil {
		h = fmt.Sprint(*hi)
	}
	return l + ".." + h
}

// fieldHint returns the hint for a setting that failed DecodeField: the
// accepted form, or the allowed value closest to the one written (the
// error message already lists them).
func fieldHint(f component.Field, v any) string {
	switch f.Type {
	case component.TypeDuration:
		return DurationHint
	case component.TypeIdentifier:
		return "use a plain name such as raw or qb_items (lower case, digits, underscores; at most 63 bytes)"
	}
	if s, ok := v.(string); ok && len(f.Enum) > 0 {
		return didYouMean(s, f.Enum)
	}
	return ""
}

// secretPlacement refuses ${secret:NAME} outside the settings of a known
// component, where nothing would resolve it. (A plain setting such as the
// QBO realm id may be read from the secret sources.)
func (c *checker) secretPlacement() {
	for ptr := range c.secretRefs {
		if c.secretFields[ptr] || c.plainFields[ptr] || c.failed[ptr] {
			continue
		}
		if slices.ContainsFunc(c.components, func(cp string) bool { return strings.HasPrefix(ptr, cp+"/with/") }) {
			continue // under a component that is unknown or is missing its use
		}
		c.errorf(ptr, "${secret:NAME} is read only in the settings of a loader, transform or exporter (under with:)", "%s cannot take a secret", displayPath(ptr))
	}
}

// literalSecrets refuses literal values under keys that name secrets
// (password, token, secret, ...), wherever they appear, even where no
// component spec marks the field as secret. Settings that a component
// declares as not secret (such as token_url) are left alone.
func (c *checker) literalSecrets(ptr string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			cp := ptr + "/" + escapePointer(k)
			// Secret fields are checked by field; a literal under an unknown
			// key is reported here too, as it is a leak whatever the key.
			if isSecretKey(k) && !c.secretFields[cp] && !c.plainFields[cp] && !c.doc.bad[cp] && isLiteral(child) {
				hint := "write ${secret:NAME} and set NAME in the environment or a secret file; the value here is not shown"
				if c.trigger {
					hint = "secrets reach a pipeline through its secret fields (${secret:NAME}), never through trigger params; the value here is not shown"
				}
				c.errorf(cp, hint, "%s looks like a secret and holds a literal value: secrets never go in pipeline or trigger files", displayPath(cp))
			}
			c.literalSecrets(cp, child)
		}
	case []any:
		for i, child := range x {
			c.literalSecrets(fmt.Sprintf("%s/%d", ptr, i), child)
		}
	}
}

// isLiteral tells whether v is a non-empty scalar without references.
func isLiteral(v any) bool {
	switch x := v.(type) {
	case string:
		if x == "" {
			return false
		}
		t, _, err := ParseTemplate(x)
		return err == nil && len(t.Refs()) == 0
	case int64, float64:
		return true
	}
	return false
}

// article returns "a" or "an" for a word.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func (c *checker) duration(ptr string, dst *time.Duration) {
	s, ok := c.str(ptr)
	if !ok {
		return
	}
	d, err := ParseDuration(s)
	if err != nil {
		c.errorf(ptr, DurationHint, "%s: %v", displayPath(ptr), err)
		return
	}
	*dst = d
}

// durationText returns a duration as written at ptr, or d and "default"
// when the file does not set it.
func (c *checker) durationText(ptr string, d time.Duration) string {
	if s, ok := c.value(ptr).(string); ok {
		return s
	}
	return d.String() + " by default"
}

func (c *checker) retry(p *Pipeline) {
	r := &p.Retry
	if v, ok := c.value("/retry/max_attempts").(int64); ok && !c.failed["/retry/max_attempts"] {
		r.MaxAttempts = int(v)
	}
	c.duration("/retry/initial_backoff", &r.InitialBackoff)
	c.duration("/retry/max_backoff", &r.MaxBackoff)
	c.duration("/retry/throttle_wait", &r.ThrottleWait)
	c.duration("/retry/max_retry_after", &r.MaxRetryAfter)
	if v, ok := number(c.value("/retry/multiplier")); ok && !c.failed["/retry/multiplier"] {
		r.Multiplier = v
	}
	if v, ok := number(c.value("/retry/jitter")); ok && !c.failed["/retry/jitter"] {
		r.Jitter = v
	}
	if v, ok := c.value("/retry/honor_retry_after").(bool); ok {
		r.HonorRetryAfter = v
	}
	if items, ok := c.value("/retry/retry_on").([]any); ok && !c.failed["/retry/retry_on"] {
		r.RetryOn = r.RetryOn[:0]
		for _, it := range items {
			if s, ok := it.(string); ok {
				r.RetryOn = append(r.RetryOn, retry.Class(s))
			}
		}
	}
	if r.InitialBackoff > r.MaxBackoff && !c.failed["/retry/initial_backoff"] && !c.failed["/retry/max_backoff"] {
		ptr := "/retry/initial_backoff"
		if !c.doc.Has(ptr) {
			ptr = "/retry/max_backoff"
		}
		c.errorf(ptr, "the first wait must not be longer than the longest one", "retry.initial_backoff (%s) is longer than retry.max_backoff (%s)",
			c.durationText("/retry/initial_backoff", r.InitialBackoff), c.durationText("/retry/max_backoff", r.MaxBackoff))
	}
}

func (c *checker) limits(p *Pipeline) {
	if v, ok := c.value("/rate_limit/requests_per_minute").(int64); ok && !c.failed["/rate_limit/requests_per_minute"] {
		p.RateLimit.RequestsPerMinute = int(v)
	}
	if v, ok := c.value("/rate_limit/max_concurrent").(int64); ok && !c.failed["/rate_limit/max_concurrent"] {
		p.RateLimit.MaxConcurrent = int(v)
	}
	c.duration("/timeouts/request", &p.Timeouts.Request)
	c.duration("/timeouts/window", &p.Timeouts.Window)
	if v, ok := c.value("/concurrency/windows").(int64); ok && !c.failed["/concurrency/windows"] {
		p.WindowConcurrency = int(v)
	}
	if p.Loader.Use == "qbo.query" {
		if p.RateLimit.RequestsPerMinute > 500 {
			c.warnf("/rate_limit/requests_per_minute", "QBO allows 500 requests per minute per company; stay below it", "rate_limit.requests_per_minute %d is above QBO's limit of 500", p.RateLimit.RequestsPerMinute)
		}
		if p.RateLimit.MaxConcurrent > 10 {
			c.warnf("/rate_limit/max_concurrent", "QBO allows 10 concurrent requests per company", "rate_limit.max_concurrent %d is above QBO's limit of 10", p.RateLimit.MaxConcurrent)
		}
	}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func pathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
