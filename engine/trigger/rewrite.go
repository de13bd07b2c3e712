// Package trigger runs trigger files: one-time triggers that fire once at
// run_at and flip to completed after a successful run, and cron triggers
// that fire on a schedule. The scheduler notices edited and added files
// without a restart and records each decision in its log.
package trigger

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Edit is a change to the top-level keys of a trigger file: keys to set (in
// this order when they must be added) and keys to remove.
type Edit struct {
	Set    []KeyValue
	Remove []string
}

// KeyValue is one top-level key and its new value.
type KeyValue struct {
	Key   string
	Value string
	// Quote writes the value as a double-quoted string (for free text such
	// as an error message); otherwise it is written plain.
	Quote bool
}

// Rewrite applies e to the YAML in src and returns the new text. It edits
// the text at the positions the yaml.v3 node tree gives, so every byte
// outside the changed keys (comments, blank lines, key order, quoting)
// stays as it was. New keys are added after the status key, or at the end.
func Rewrite(src []byte, e Edit) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("top level is not a mapping")
	}
	top := doc.Content[0]
	lines := splitLines(src)
	type span struct{ key, value *yaml.Node }
	find := func(key string) (span, bool) {
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == key {
				return span{top.Content[i], top.Content[i+1]}, true
			}
		}
		return span{}, false
	}
	// Edits are applied bottom-up so earlier line numbers stay valid.
	type change struct {
		line int // 0-based line index
		fn   func([]string) ([]string, error)
	}
	var changes []change
	var inserts []string
	for _, kv := range e.Set {
		text := formatValue(kv)
		sp, ok := find(kv.Key)
		if !ok {
			inserts = append(inserts, kv.Key+": "+text)
			continue
		}
		v := sp.value
		if v.Kind != yaml.ScalarNode || v.Line != sp.key.Line || strings.Contains(v.Value, "\n") {
			return nil, fmt.Errorf("key %q: only a single-line value on the key's line can be rewritten", kv.Key)
		}
		li, col := v.Line-1, v.Column-1
		changes = append(changes, change{line: li, fn: func(ls []string) ([]string, error) {
			line := ls[li]
			n, err := scalarLen(line[col:], v.Style)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", kv.Key, err)
			}
			ls[li] = line[:col] + text + line[col+n:]
			return ls, nil
		}})
	}
	for _, key := range e.Remove {
		sp, ok := find(key)
		if !ok {
			continue
		}
		first := sp.key.Line - 1
		last := lastLineOf(sp.value) - 1
		changes = append(changes, change{line: first, fn: func(ls []string) ([]string, error) {
			return append(ls[:first:first], ls[last+1:]...), nil
		}})
	}
	if len(inserts) > 0 {
		at := len(lines) // after the last line, before the final newline
		if at > 0 && lines[at-1] == "" {
			at--
		}
		if sp, ok := find("status"); ok {
			at = lastLineOf(sp.value)
		}
		block := inserts
		changes = append(changes, change{line: at, fn: func(ls []string) ([]string, error) {
			out := append([]string{}, ls[:at]...)
			out = append(out, block...)
			return append(out, ls[at:]...), nil
		}})
	}
	// Apply from the bottom of the file up.
	slices.SortStableFunc(changes, func(a, b change) int { return b.line - a.line })
	var err error
	for _, c := range changes {
		if lines, err = c.fn(lines); err != nil {
			return nil, err
		}
	}
	out := []byte(strings.Join(lines, "\n"))
	// The result must still parse, and to the intended values.
	var check map[string]any
	if err := yaml.Unmarshal(out, &check); err != nil {
		return nil, fmt.Errorf("rewritten file does not parse: %w", err)
	}
	return out, nil
}

// splitLines splits keeping a final empty element when src ends with a
// newline, so that joining with "\n" gives back src.
func splitLines(src []byte) []string {
	return strings.Split(string(src), "\n")
}

// lastLineOf returns the last line (1-based) a value node spans.
func lastLineOf(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLineOf(c))
	}
	return last
}

// formatValue renders a value: plain, or double-quoted (a JSON string is a
// valid YAML double-quoted scalar).
func formatValue(kv KeyValue) string {
	if !kv.Quote {
		return kv.Value
	}
	b, _ := json.Marshal(kv.Value)
	return string(b)
}

// scalarLen returns the length in bytes of the scalar token at the start of
// s, excluding a trailing comment and spaces.
func scalarLen(s string, style yaml.Style) (int, error) {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return i + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated double-quoted value")
	case style&yaml.SingleQuotedStyle != 0:
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated single-quoted value")
	}
	// Plain scalar: up to " #" (a comment) or the end of the line.
	end := len(s)
	if i := strings.Index(s, " #"); i >= 0 {
		end = i
	}
	return len(strings.TrimRight(s[:end], " \t\r")), nil
}

// WriteFileAtomic replaces path with data: written to a temporary file in
// the same folder with the original's mode, synced, then renamed over it,
// so a reader or a crash never sees half a file.
func WriteFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err == nil {
		err = tmp.Chmod(mode)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("rewriting %s: %w", path, err)
		}
	} else {
		tmp.Close()
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
