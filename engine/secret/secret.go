// Package secret resolves secret references and keeps their values out of
// logs, errors and reports.
//
// A secret is referenced by NAME in pipeline files (${secret:NAME}) and is
// resolved, in order, from the environment variable NAME, from the file
// named by NAME_FILE, and from the Docker secret /run/secrets/<name> (the
// name in lower case, or exactly as written). Setting both NAME and NAME_FILE
// is an error, as in the official PostgreSQL image.
package secret

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Redacted is what every formatter prints instead of a secret value.
const Redacted = "[REDACTED]"

// Value holds a secret. Its String, GoString, Format, MarshalJSON,
// MarshalText and LogValue methods all print Redacted; only Reveal returns
// the value.
type Value struct {
	name string
	v    string
}

// New wraps a secret value under a reference name.
func New(name, value string) Value { return Value{name: name, v: value} }

// Reveal returns the secret value. Call it only where the value is sent to
// the system that needs it.
func (s Value) Reveal() string { return s.v }

// Name returns the reference name, such as QBO_CLIENT_SECRET.
func (s Value) Name() string { return s.name }

// IsZero reports whether the value is empty.
func (s Value) IsZero() bool { return s.v == "" }

func (s Value) String() string                { return Redacted }
func (s Value) GoString() string              { return Redacted }
func (s Value) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(Redacted)) }
func (s Value) MarshalJSON() ([]byte, error)  { return []byte(`"` + Redacted + `"`), nil }
func (s Value) MarshalText() ([]byte, error)  { return []byte(Redacted), nil }
func (s Value) LogValue() slog.Value          { return slog.StringValue(Redacted) }

// NamePattern is the form of a secret or environment reference name.
var NamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ErrNotFound is returned when a secret is set nowhere.
var ErrNotFound = errors.New("secret not set")

// Resolver looks secrets up. The zero value reads the real environment and
// /run/secrets.
type Resolver struct {
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// SecretsDir defaults to /run/secrets.
	SecretsDir string
	// ReadFile defaults to os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

func (r *Resolver) lookupEnv(name string) (string, bool) {
	if r != nil && r.LookupEnv != nil {
		return r.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

func (r *Resolver) readFile(path string) ([]byte, error) {
	if r != nil && r.ReadFile != nil {
		return r.ReadFile(path)
	}
	return os.ReadFile(path)
}

func (r *Resolver) secretsDir() string {
	if r != nil && r.SecretsDir != "" {
		return r.SecretsDir
	}
	return "/run/secrets"
}

// Source says where a secret was found, without its value.
type Source string

// Sources.
const (
	FromEnv          Source = "environment"
	FromFileEnv      Source = "file named by _FILE"
	FromDockerSecret Source = "docker secret"
)

// Lookup resolves name. The error never contains the value; it names the
// places that were searched.
func (r *Resolver) Lookup(name string) (Value, Source, error) {
	if !NamePattern.MatchString(name) {
		return Value{}, "", fmt.Errorf("secret name %q: must match %s", name, NamePattern)
	}
	v, hasEnv := r.lookupEnv(name)
	path, hasFile := r.lookupEnv(name + "_FILE")
	if hasEnv && hasFile {
		return Value{}, "", fmt.Errorf("secret %s: both %s and %s_FILE are set; set only one", name, name, name)
	}
	if hasEnv {
		if v == "" {
			return Value{}, "", fmt.Errorf("secret %s: environment variable is set but empty", name)
		}
		return New(name, v), FromEnv, nil
	}
	if hasFile {
		val, err := r.fromFile(name, path)
		return val, FromFileEnv, err
	}
	dir := r.secretsDir()
	for _, candidate := range []string{strings.ToLower(name), name} {
		p := filepath.Join(dir, candidate)
		if _, err := r.readFile(p); err == nil {
			val, err := r.fromFile(name, p)
			return val, FromDockerSecret, err
		}
	}
	return Value{}, "", fmt.Errorf("secret %s: %w (looked for environment variable %s, %s_FILE, and %s)",
		name, ErrNotFound, name, name, filepath.Join(dir, strings.ToLower(name)))
}

// fromFile reads a secret file, trimming one trailing newline (\n or \r\n)
// and nothing else; an empty result is an error.
func (r *Resolver) fromFile(name, path string) (Value, error) {
	b, err := r.readFile(path)
	if err != nil {
		return Value{}, fmt.Errorf("secret %s: reading %s: %w", name, path, errors.Unwrap(err))
	}
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return Value{}, fmt.Errorf("secret %s: file %s is empty", name, path)
	}
	return New(name, s), nil
}

// Redactor replaces known secret values in text. It also catches the
// URL-encoded and base64 forms of each value. It is safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	replacer *strings.Replacer
	values   map[string]struct{}
}

// minRedactLen avoids replacing very short values (such as a port "5432"),
// which would mangle unrelated text without protecting anything.
const minRedactLen = 6

// Add registers values to scrub. Empty and very short values are ignored.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.values == nil {
		r.values = map[string]struct{}{}
	}
	for _, v := range values {
		if len(v) < minRedactLen {
			continue
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v),
			base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v))} {
			r.values[form] = struct{}{}
		}
	}
	pairs := make([]string, 0, 2*len(r.values))
	// Longer values first, so that a value containing another is replaced whole.
	forms := make([]string, 0, len(r.values))
	for f := range r.values {
		forms = append(forms, f)
	}
	slices.SortFunc(forms, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b)) })
	for _, f := range forms {
		pairs = append(pairs, f, Redacted)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Redact returns s with every registered value replaced by Redacted.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}
