package config

import (
	"fmt"
	"strings"
)

// RefKind is the kind of a ${...} reference.
type RefKind int

// Reference kinds.
const (
	RefParam  RefKind = iota + 1 // ${params.NAME}
	RefEnv                       // ${env:NAME} or ${env:NAME:-default}
	RefSecret                    // ${secret:NAME}
)

// Ref is one ${...} reference inside a string.
type Ref struct {
	Kind RefKind
	Name string
	// Default is the text after ":-" in ${env:NAME:-default}; HasDefault
	// tells an empty default from none.
	Default    string
	HasDefault bool
	// Offset is the byte offset of "${" in the string.
	Offset int
}

// Segment is a literal text or a reference.
type Segment struct {
	Text string
	Ref  *Ref
}

// Template is a parsed string: literal text and references.
type Template []Segment

// Whole returns the reference when the string is exactly one reference.
func (t Template) Whole() (*Ref, bool) {
	if len(t) == 1 && t[0].Ref != nil {
		return t[0].Ref, true
	}
	return nil, false
}

// Refs returns the references in order.
func (t Template) Refs() []*Ref {
	var out []*Ref
	for _, s := range t {
		if s.Ref != nil {
			out = append(out, s.Ref)
		}
	}
	return out
}

// RefSyntaxHint lists the accepted reference forms.
const RefSyntaxHint = "references are ${params.NAME}, ${env:NAME}, ${env:NAME:-default} and ${secret:NAME}; write $${ for a literal ${"

// templateError is a reference syntax error with the hint that fits it.
type templateError struct {
	msg, hint string
}

func (e *templateError) Error() string { return e.msg }

// TemplateHint returns the hint for an error of ParseTemplate.
func TemplateHint(err error) string {
	if te, ok := err.(*templateError); ok && te.hint != "" {
		return te.hint
	}
	return RefSyntaxHint
}

func refErrorf(hint, format string, args ...any) error {
	return &templateError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// ParseTemplate splits s into literal text and references. "$${" is a
// literal "${". It reports the byte offset of the first syntax error.
func ParseTemplate(s string) (Template, int, error) {
	var t Template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t = append(t, Segment{Text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, i, refErrorf("close it with }, or write $${ for a literal ${", "unterminated reference %q", s[i:])
		}
		ref, err := parseRef(s[i+2 : i+end])
		if err != nil {
			return nil, i, err
		}
		ref.Offset = i
		flush()
		t = append(t, Segment{Ref: ref})
		i += end + 1
	}
	flush()
	return t, 0, nil
}

func parseRef(body string) (*Ref, error) {
	switch {
	case strings.HasPrefix(body, "params."):
		name := body[len("params."):]
		if !isName(name) {
			return nil, refErrorf("", "invalid parameter reference ${%s}: parameter names are letters, digits and underscores", body)
		}
		return &Ref{Kind: RefParam, Name: name}, nil
	case strings.HasPrefix(body, "env:"):
		rest := body[len("env:"):]
		name, def, hasDef := strings.Cut(rest, ":-")
		if !isName(name) {
			return nil, refErrorf("", "invalid environment reference ${%s}: variable names are letters, digits and underscores", body)
		}
		return &Ref{Kind: RefEnv, Name: name, Default: def, HasDefault: hasDef}, nil
	case strings.HasPrefix(body, "secret:"):
		name := body[len("secret:"):]
		if strings.Contains(name, ":-") {
			n := name[:strings.Index(name, ":-")]
			return nil, refErrorf(fmt.Sprintf("write ${secret:%s} and set %s in the environment, %s_FILE or /run/secrets/%s", n, n, n, strings.ToLower(n)),
				"secret reference ${%s} cannot have a default: secrets must be set explicitly", body)
		}
		if !isName(name) {
			return nil, refErrorf("", "invalid secret reference ${%s}: secret names are letters, digits and underscores", body)
		}
		return &Ref{Kind: RefSecret, Name: name}, nil
	}
	scheme, _, _ := strings.Cut(body, ":")
	scheme, _, _ = strings.Cut(scheme, ".")
	hint := ""
	switch m := suggest(scheme, []string{"params", "env", "secret"}); m {
	case "params":
		hint = "did you mean ${params." + body[len(scheme):][min(1, len(body)-len(scheme)):] + "}?"
	case "env", "secret":
		hint = "did you mean ${" + m + ":" + body[len(scheme):][min(1, len(body)-len(scheme)):] + "}?"
	}
	return nil, refErrorf(hint, "unknown reference ${%s}: %q is not params, env or secret", body, scheme)
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}
