// Package config loads pipeline and trigger files: YAML parsed into nodes
// that keep line and column, validated against the embedded JSON Schemas,
// checked for meaning (durations, timestamps, identifiers, components,
// references), and bound to parameter values for a run.
package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/etl-engine/etl/engine/diag"
)

// MaxFileSize bounds the size of a pipeline or trigger file.
const MaxFileSize = 1 << 20

// Document is a parsed YAML file. Every value keeps the node it came from,
// so that any problem can point at its line and column.
type Document struct {
	File string
	Root *yaml.Node // the top-level mapping, nil if the file is empty
	// Data is the document as plain values (map[string]any, []any, string,
	// int64, float64, bool, nil) for JSON Schema validation.
	Data any
	// values maps a JSON Pointer to the node of its value; keys maps it to
	// the node of the key that introduced it.
	values map[string]*yaml.Node
	keys   map[string]*yaml.Node
}

// Pos returns the line and column of the value at pointer, falling back to
// the nearest ancestor that exists, then to 1:1.
func (d *Document) Pos(pointer string) (line, col int) {
	for p := pointer; ; p = parentPointer(p) {
		if n, ok := d.values[p]; ok && n.Line > 0 {
			return n.Line, n.Column
		}
		if p == "" {
			return 1, 1
		}
	}
}

// KeyPos returns the position of the key that introduced pointer, or the
// value's position when there is no key (array items, the root).
func (d *Document) KeyPos(pointer string) (line, col int) {
	if n, ok := d.keys[pointer]; ok {
		return n.Line, n.Column
	}
	return d.Pos(pointer)
}

// Node returns the value node at pointer.
func (d *Document) Node(pointer string) (*yaml.Node, bool) {
	n, ok := d.values[pointer]
	return n, ok
}

// Has reports whether pointer exists in the document.
func (d *Document) Has(pointer string) bool {
	_, ok := d.values[pointer]
	return ok
}

// Parse reads YAML into a Document. Syntax errors, duplicate keys,
// non-string keys, merge keys and multiple documents are reported as
// diagnostics; the Document is nil when the file cannot be used at all.
func Parse(file string, src []byte) (*Document, diag.List) {
	var ds diag.List
	if len(src) > MaxFileSize {
		ds.Errorf(file, 1, 1, "", "file is larger than %d bytes", MaxFileSize)
		return nil, ds
	}
	var root yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			ds.Errorf(file, 1, 1, "", "file is empty")
			return nil, ds
		}
		line, col, msg := syntaxPosition(err, src)
		ds.Errorf(file, line, col, "", "YAML syntax: %s", msg)
		return nil, ds
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		ds.Errorf(file, extra.Line, extra.Column, "", "file holds more than one YAML document; keep one per file")
	}
	doc := &Document{File: file, values: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	top := &root
	if top.Kind == yaml.DocumentNode {
		if len(top.Content) == 0 {
			ds.Errorf(file, 1, 1, "", "file is empty")
			return nil, ds
		}
		top = top.Content[0]
	}
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		ds.Errorf(file, 1, 1, "", "file is empty")
		return nil, ds
	}
	if top.Kind != yaml.MappingNode {
		ds.Errorf(file, top.Line, top.Column, "", "top level must be a mapping of keys to values, found %s", kindName(top))
		return nil, ds
	}
	doc.Root = top
	c := converter{doc: doc, ds: &ds}
	doc.Data = c.convert(top, "", 0)
	return doc, ds
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxPosition extracts the position of a yaml.v3 syntax error. yaml.v3
// reports only a line: 1-based for scanner errors, but 0-based (the start of
// the enclosing block or flow) for parser errors, which all read "did not
// find expected ...". The column is that of the character at fault when it
// can be told (a tab, an opening bracket or quote), else the first
// non-blank character of the line.
func syntaxPosition(err error, src []byte) (line, col int, msg string) {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 1, 1, err.Error()
	}
	msg = m[2]
	line = 1
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
		if strings.HasPrefix(msg, "did not find expected") {
			line++
		}
	}
	lines := strings.Split(string(src), "\n")
	if line < 1 || line > len(lines) {
		return line, 1, msg
	}
	text := lines[line-1]
	col = len(text) - len(strings.TrimLeft(text, " ")) + 1
	at := func(chars string) {
		if i := strings.IndexAny(text, chars); i >= 0 {
			col = i + 1
		}
	}
	switch {
	case strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token") && strings.Contains(text, "\t"):
		at("\t")
		msg += " (YAML indents with spaces only)"
	case strings.Contains(msg, "cannot start any token"):
		at("@`")
	case strings.Contains(msg, "',' or ']'"):
		at("[")
		msg = "unclosed list: " + msg
	case strings.Contains(msg, "',' or '}'"):
		at("{")
		msg = "unclosed mapping: " + msg
	case strings.Contains(msg, "unexpected end of stream"):
		at("\"'")
		msg = "unclosed quoted string: " + msg
	}
	return line, col, msg
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a scalar " + strconv.Quote(n.Value)
	}
}

type converter struct {
	doc *Document
	ds  *diag.List
}

// maxDepth bounds nesting, and with it the cost of alias expansion.
const maxDepth = 64

func (c *converter) convert(n *yaml.Node, ptr string, depth int) any {
	if depth > maxDepth {
		c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "nesting deeper than %d levels", maxDepth)
		return nil
	}
	if _, seen := c.doc.values[ptr]; !seen {
		c.doc.values[ptr] = n
	}
	switch n.Kind {
	case yaml.AliasNode:
		c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "YAML aliases (*%s) are not supported; write the value out", n.Value)
		return nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float") {
				if k.Tag == "!!merge" {
					c.ds.Errorf(c.doc.File, k.Line, k.Column, ptr, "YAML merge keys (<<) are not supported; write the keys out")
				} else {
					c.ds.Errorf(c.doc.File, k.Line, k.Column, ptr, "keys must be plain strings, found %s", kindName(k))
				}
				continue
			}
			if prev, dup := first[k.Value]; dup {
				c.ds.Errorf(c.doc.File, k.Line, k.Column, ptr+"/"+escapePointer(k.Value),
					"duplicate key %q (first defined at line %d)", k.Value, prev.Line).Hint = "YAML keeps only one of them; remove or rename one"
				continue
			}
			first[k.Value] = k
			child := ptr + "/" + escapePointer(k.Value)
			c.doc.keys[child] = k
			out[k.Value] = c.convert(v, child, depth+1)
		}
		return out
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			out = append(out, c.convert(item, ptr+"/"+strconv.Itoa(i), depth+1))
		}
		return out
	case yaml.ScalarNode:
		return c.scalar(n, ptr)
	}
	return nil
}

// scalar converts a scalar by its resolved YAML tag. Timestamps stay
// strings: the engine parses them itself to insist on an offset.
func (c *converter) scalar(n *yaml.Node, ptr string) any {
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i
		}
		c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "integer %s is out of range", n.Value)
		return nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
		c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "number %s is not finite", n.Value)
		return nil
	case "!!binary":
		c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "binary values are not supported")
		return nil
	}
	return n.Value
}

// escapePointer escapes a key for a JSON Pointer (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

func parentPointer(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// pointerOf joins path segments into a JSON Pointer.
func pointerOf(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(escapePointer(s))
	}
	return b.String()
}

// displayPath renders a pointer for messages: /loader/with/page_size becomes
// loader.with.page_size, /transforms/0/use becomes transforms[0].use.
func displayPath(p string) string {
	if p == "" {
		return "the top level"
	}
	var b strings.Builder
	for _, seg := range strings.Split(p[1:], "/") {
		seg = unescapePointer(seg)
		if _, err := strconv.Atoi(seg); err == nil {
			fmt.Fprintf(&b, "[%s]", seg)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}
