package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/diag"
	"github.com/etl-engine/etl/engine/plan"
	"github.com/etl-engine/etl/engine/secret"
)

// ParamValue is a parameter value supplied for a run, with where it came
// from for diagnostics.
type ParamValue struct {
	// Value is a string from the command line, or a YAML scalar (string,
	// int64, bool, float64) from a trigger file.
	Value any
	// File, Line and Col locate the value; zero for the command line.
	File      string
	Line, Col int
	Pointer   string
	// KeyLine and KeyCol locate the parameter's name in a file, for errors
	// about the name itself (an unknown parameter); zero when unknown.
	KeyLine, KeyCol int
	// Invalid marks a value already reported as unusable (such as a list in
	// a trigger's params): Bind counts the parameter as given but stops
	// before using it.
	Invalid bool
}

// BindMode says how much Bind resolves.
type BindMode int

const (
	// BindCheck resolves parameters and the environment but not secrets:
	// for lint and plan, which must work without credentials.
	BindCheck BindMode = iota
	// BindRun also resolves secrets and fails when one is missing.
	BindRun
)

// Bound is a pipeline with every value resolved for one run.
type Bound struct {
	*Pipeline
	// Params holds every declared parameter's typed value (defaults
	// applied); Raw holds them as text for storage and display.
	Params    map[string]any
	RawParams map[string]string
	Start     time.Time
	End       time.Time
	// PlanKey identifies the plan: pipeline, parameters and segmentation. A
	// run resumes only an unfinished run with the same key.
	PlanKey    string
	Loader     BoundComponent
	Transforms []BoundComponent
	Exporter   BoundComponent
	// Secrets lists every resolved secret, for the redactor.
	Secrets []secret.Value
}

// BoundComponent is a component with its resolved settings.
type BoundComponent struct {
	Use      string
	Reg      *component.Registration
	Settings component.Settings
}

// Windows returns the plan of the bound range.
func (b *Bound) Windows() ([]plan.Window, error) {
	return plan.Windows(plan.Spec{Start: b.Start, End: b.End, Step: b.Step, Location: b.Location})
}

// Binder resolves references.
type Binder struct {
	Mode BindMode
	// Secrets resolves ${secret:NAME}; the zero Resolver reads the real
	// environment and /run/secrets.
	Secrets *secret.Resolver
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// MissingAt locates errors about parameters that have no value (for
	// example a trigger's params block); nil means the command line.
	MissingAt *ParamValue
}

func (b *Binder) lookupEnv(name string) (string, bool) {
	if b.LookupEnv != nil {
		return b.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

// Bind resolves p for a run with the given parameter values. Diagnostics
// point at the parameter values (or the pipeline when a default is at fault).
func (b *Binder) Bind(p *Pipeline, params map[string]ParamValue) (*Bound, diag.List) {
	var ds diag.List
	bd := &Bound{Pipeline: p, Params: map[string]any{}, RawParams: map[string]string{}}
	pos := func(pv ParamValue) (string, int, int) {
		if pv.File == "" {
			return "command line", 0, 0
		}
		return pv.File, pv.Line, pv.Col
	}
	names := p.ParamNames()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, name := range keys {
		if _, ok := p.Param(name); !ok {
			f, l, c := pos(params[name])
			if pv := params[name]; pv.File != "" && pv.KeyLine > 0 {
				l, c = pv.KeyLine, pv.KeyCol
			}
			d := ds.Errorf(f, l, c, params[name].Pointer, "pipeline %s has no parameter %q", p.Name, name)
			d.Hint = didYouMean(name, names)
			if d.Hint == "" {
				d.Hint = "its parameters are: " + strings.Join(names, ", ")
			}
		}
	}
	// where remembers where each parameter's value came from, to point at it
	// when a later check fails.
	where := map[string]ParamValue{}
	invalid := false
	for _, ps := range p.Params {
		pv, given := params[ps.Name]
		var v any
		switch {
		case given && pv.Invalid:
			invalid = true
			continue
		case given:
			val, err := ps.Coerce(pv.Value)
			if err != nil {
				f, l, c := pos(pv)
				d := ds.Errorf(f, l, c, pv.Pointer, "parameter %s: %v", ps.Name, err)
				d.Hint = ps.errHint(err)
				continue
			}
			v = val
			where[ps.Name] = pv
		case ps.HasDefault:
			v = ps.Default
			l, c := p.Doc.Pos(ps.pointer + "/default")
			where[ps.Name] = ParamValue{File: p.File, Line: l, Col: c, Pointer: ps.pointer + "/default"}
		case ps.Required:
			f, l, c := "command line", 0, 0
			ptr := ""
			hint := "pass --param " + ps.Name + "=VALUE"
			if b.MissingAt != nil {
				f, l, c, ptr = b.MissingAt.File, b.MissingAt.Line, b.MissingAt.Col, b.MissingAt.Pointer
				hint = "add " + ps.Name + " under params:"
			}
			d := ds.Errorf(f, l, c, ptr, "parameter %s is required by pipeline %s", ps.Name, p.Name)
			d.Hint = hint
			if ps.Type == ParamTimestamp {
				d.Hint += " (" + TimestampHint + ")"
			}
			continue
		default:
			continue
		}
		bd.Params[ps.Name] = v
		bd.RawParams[ps.Name] = formatParam(v)
	}
	if ds.HasErrors() || invalid {
		return nil, ds
	}
	r := &resolver{b: b, bound: bd, ds: &ds, doc: p.Doc}
	start, okS := r.timestamp("/segmentation/start", p.StartExpr)
	end, okE := r.timestamp("/segmentation/end", p.EndExpr)
	if okS && okE {
		bd.Start, bd.End = start, end
		if !end.After(start) {
			endNotAfterStart(&ds, p, start, end, where)
		} else if _, err := bd.Windows(); err != nil {
			l, c := p.Doc.Pos("/segmentation/step")
			ds.Errorf(p.File, l, c, "/segmentation/step", "%v", err)
		}
	}
	bd.Loader = r.component(p.Loader)
	for _, t := range p.Transforms {
		bd.Transforms = append(bd.Transforms, r.component(t))
	}
	bd.Exporter = r.component(p.Exporter)
	bd.PlanKey = planKey(bd)
	if ds.HasErrors() {
		return nil, ds.Sort()
	}
	return bd, ds.Sort()
}

// endNotAfterStart reports an empty or reversed range on the value that
// set the end: a parameter value (from where) or segmentation.end.
func endNotAfterStart(ds *diag.List, p *Pipeline, start, end time.Time, where map[string]ParamValue) {
	endName, startName := paramName(p.EndExpr), paramName(p.StartExpr)
	f, ptr := p.File, "/segmentation/end"
	l, c := p.Doc.Pos(ptr)
	if pv, ok := where[endName]; ok {
		f, l, c, ptr = pv.File, pv.Line, pv.Col, pv.Pointer
		if f == "" {
			f = "command line"
		}
	}
	label := func(param, expr string) string {
		if param != "" {
			return param
		}
		return "segmentation." + expr
	}
	d := ds.Errorf(f, l, c, ptr, "%s (%s) must be after %s (%s)",
		label(endName, "end"), end.UTC().Format(time.RFC3339), label(startName, "start"), start.UTC().Format(time.RFC3339))
	d.Hint = "windows are half-open, [start, end): the end instant itself is not loaded"
}

func paramName(expr string) string {
	t, _, err := ParseTemplate(expr)
	if err != nil {
		return ""
	}
	if ref, ok := t.Whole(); ok && ref.Kind == RefParam {
		return ref.Name
	}
	return ""
}

func formatParam(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(v)
}

// planKey hashes what decides the windows and their content.
func planKey(b *Bound) string {
	h := sha256.New()
	fmt.Fprintf(h, "pipeline=%s\nstart=%s\nend=%s\nstep=%s\ntz=%s\ncursor=%s\nloader=%s\nexporter=%s\n",
		b.Name, b.Start.UTC().Format(time.RFC3339Nano), b.End.UTC().Format(time.RFC3339Nano),
		b.Step, b.Location, b.CursorField, b.Loader.Use, b.Exporter.Use)
	keys := make([]string, 0, len(b.RawParams))
	for k := range b.RawParams {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "param.%s=%s\n", k, b.RawParams[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

type resolver struct {
	b     *Binder
	bound *Bound
	ds    *diag.List
	doc   *Document
}

func (r *resolver) errorf(ptr, hint, format string, args ...any) {
	l, c := r.doc.Pos(ptr)
	d := r.ds.Errorf(r.doc.File, l, c, ptr, format, args...)
	d.Hint = hint
}

// resolve evaluates a raw value: strings have their references replaced; a
// string that is exactly one reference takes the referenced value's type.
func (r *resolver) resolve(ptr string, raw any) (any, bool) {
	switch x := raw.(type) {
	case string:
		t, _, err := ParseTemplate(x)
		if err != nil {
			r.errorf(ptr, TemplateHint(err), "%v", err)
			return nil, false
		}
		if ref, whole := t.Whole(); whole {
			return r.ref(ptr, ref)
		}
		var sb strings.Builder
		for _, seg := range t {
			if seg.Ref == nil {
				sb.WriteString(seg.Text)
				continue
			}
			v, ok := r.ref(ptr, seg.Ref)
			if !ok {
				return nil, false
			}
			if sv, isSecret := v.(secret.Value); isSecret {
				// A secret spliced into text would escape redaction by type.
				r.errorf(ptr, "give the secret a field of its own", "${secret:%s} cannot be part of a longer string", sv.Name())
				return nil, false
			}
			sb.WriteString(formatParam(v))
		}
		return sb.String(), true
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			v, ok := r.resolve(fmt.Sprintf("%s/%d", ptr, i), it)
			if !ok {
				return nil, false
			}
			out[i] = v
		}
		return out, true
	}
	return raw, true
}

func (r *resolver) ref(ptr string, ref *Ref) (any, bool) {
	switch ref.Kind {
	case RefParam:
		v, ok := r.bound.Params[ref.Name]
		if !ok {
			r.errorf(ptr, "pass --param "+ref.Name+"=VALUE or give it a default", "parameter %s has no value", ref.Name)
			return nil, false
		}
		return v, true
	case RefEnv:
		if v, ok := r.b.lookupEnv(ref.Name); ok {
			return v, true
		}
		if ref.HasDefault {
			return ref.Default, true
		}
		if r.b.Mode == BindCheck {
			return "", true // already warned by the static checks
		}
		r.errorf(ptr, "set it, or give a default: ${env:"+ref.Name+":-value}", "environment variable %s is not set", ref.Name)
		return nil, false
	case RefSecret:
		if r.b.Mode == BindCheck {
			return secret.New(ref.Name, ""), true
		}
		v, _, err := r.b.Secrets.Lookup(ref.Name)
		if err != nil {
			r.errorf(ptr, "see docs/SECRETS.md for where each secret comes from", "%v", err)
			return nil, false
		}
		return v, true
	}
	return nil, false
}

func (r *resolver) timestamp(ptr, expr string) (time.Time, bool) {
	if expr == "" {
		return time.Time{}, false
	}
	v, ok := r.resolve(ptr, expr)
	if !ok {
		return time.Time{}, false
	}
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := ParseTimestamp(x)
		if err != nil {
			r.errorf(ptr, TimestampHint, "%s: %v", displayPath(ptr), err)
			return time.Time{}, false
		}
		return t, true
	}
	r.errorf(ptr, TimestampHint, "%s: expected a timestamp, got %s", displayPath(ptr), typeName(v))
	return time.Time{}, false
}

func (r *resolver) component(cu ComponentUse) BoundComponent {
	bc := BoundComponent{Use: cu.Use, Reg: cu.Reg, Settings: component.Settings{}}
	if cu.Reg == nil {
		return bc
	}
	for _, f := range cu.Reg.Spec.Fields {
		ptr := cu.pointer + "/with/" + escapePointer(f.Name)
		raw, present := cu.With[f.Name]
		if !present {
			if f.Default != nil {
				bc.Settings[f.Name] = f.Default
			}
			continue
		}
		v, ok := r.resolve(ptr, raw)
		if !ok {
			continue
		}
		if sv, ok := v.(secret.Value); ok {
			switch {
			case f.Secret:
				// Secret fields are redacted wherever their value appears.
				bc.Settings[f.Name] = sv
				r.bound.Secrets = append(r.bound.Secrets, sv)
				continue
			case r.b.Mode == BindCheck:
				continue // not resolved when checking
			default:
				// A ${secret:NAME} in a plain field (such as the QBO realm
				// id) is read from the secret sources but is not sensitive.
				v = sv.Reveal()
			}
		}
		if s, isString := v.(string); isString && s == "" && !f.Required {
			// An empty value (such as ${env:QBO_BASE_URL:-}) means "use the default".
			if f.Default != nil {
				bc.Settings[f.Name] = f.Default
			}
			continue
		}
		dv, err := DecodeField(f, v)
		if err != nil {
			r.errorf(ptr, fieldHint(f, v), "%s: %v", displayPath(ptr), err)
			continue
		}
		bc.Settings[f.Name] = dv
	}
	return bc
}

// SortedParams returns the parameter names of b in declaration order.
func (b *Bound) SortedParams() []string {
	names := b.ParamNames()
	return slices.DeleteFunc(names, func(n string) bool { _, ok := b.Params[n]; return !ok })
}
