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
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

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
	// bad holds the pointers whose value was already reported while parsing
	// (an alias, an out-of-range number...): later checks skip them rather
	// than report the placeholder left in Data.
	bad map[string]bool
	// src is the file's text, to place positions inside a value.
	src string
}

// writtenAt tells whether text appears verbatim in the source at line:col
// (1-based, col counted in characters as yaml.v3 counts them), within
// that one line.
func (d *Document) writtenAt(line, col int, text string) bool {
	rest := d.src
	for i := 1; i < line; i++ {
		j := strings.IndexByte(rest, '\n')
		if j < 0 {
			return false
		}
		rest = rest[j+1:]
	}
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	for i := 1; i < col; i++ {
		_, size := utf8.DecodeRuneInString(rest)
		if size == 0 {
			return false
		}
		rest = rest[size:]
	}
	return strings.HasPrefix(rest, text)
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
	text := string(src)
	var root yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			ds.Errorf(file, 1, 1, "", "file is empty")
			return nil, ds
		}
		line, col, msg, hint := syntaxPosition(err, src)
		ds.Errorf(file, line, col, "", "YAML syntax: %s", msg).Hint = hint
		return nil, ds
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		ds.Errorf(file, extra.Line, extra.Column, "", "file holds more than one YAML document; keep one per file").Hint = multiDocHint
	case !errors.Is(err, io.EOF):
		// The next document does not parse; the decoder counts its lines
		// from the start of the file, so the position is still right.
		line, col, msg, hint := syntaxPosition(err, src)
		ds.Errorf(file, line, col, "", "YAML syntax: %s", msg).Hint = hint
		if l := documentStart(src, root.Line); l > 0 {
			ds.Errorf(file, l, 1, "", "file holds more than one YAML document; keep one per file").Hint = multiDocHint
		}
	}
	doc := &Document{File: file, values: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, bad: map[string]bool{}, src: text}
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

const multiDocHint = "remove the --- line and what follows it, or move that document to a file of its own"

// documentStart returns the line of the first "---" marker after line
// after, or 0 when there is none (the text after the first document is
// then only a syntax error).
func documentStart(src []byte, after int) int {
	for i, text := range strings.Split(string(src), "\n") {
		if i+1 > after && strings.HasPrefix(text, "---") && (len(text) == 3 || strings.ContainsRune(" \t\r", rune(text[3]))) {
			return i + 1
		}
	}
	return 0
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxPosition extracts the position of a yaml.v3 syntax error. yaml.v3
// reports only a line, and not always the line at fault: scanner errors give
// the line where the token being scanned began (1-based), parser errors the
// 0-based line where the enclosing block or flow began; some errors give no
// line at all. The line and column are then refined from the source: the tab
// at fault, the alias that names no anchor, the first line that breaks a
// block, the bracket or quote that is never closed.
func syntaxPosition(err error, src []byte) (line, col int, msg, hint string) {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 1, 1, err.Error(), ""
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
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if line < 1 {
		line = 1
	}
	if line > len(lines) {
		return len(lines), 1, msg, ""
	}
	firstNonBlank := func(text string) int {
		return len(text) - len(strings.TrimLeft(text, " ")) + 1
	}
	text := lines[line-1]
	col = firstNonBlank(text)
	at := func(chars string) {
		if i := strings.IndexAny(text, chars); i >= 0 {
			col = runeCol(text, i)
		}
	}
	switch {
	case strings.Contains(msg, "tab character"),
		strings.Contains(msg, "cannot start any token") && strings.Contains(text, "\t"):
		// The scanner reports the line where the current token began, which
		// may be above the tab: find the first tab from there on, preferring
		// one in a line's indentation.
		line, col = findTab(lines, line)
		hint = "YAML indents with spaces only; replace the tab with spaces"
	case strings.Contains(msg, "cannot start any token"):
		at("@`")
	case strings.Contains(msg, "',' or ']'"):
		at("[")
		msg = "unclosed list: " + msg
		hint = "add the closing ] after the last item"
	case strings.Contains(msg, "',' or '}'"):
		at("{")
		msg = "unclosed mapping: " + msg
		hint = "add the closing } after the last entry"
	case strings.Contains(msg, "unexpected end of stream"):
		at("\"'")
		msg = "unclosed quoted string: " + msg
		hint = "close the quote on the same value"
	case strings.Contains(msg, "unknown escape character"):
		at("\\")
	case strings.Contains(msg, "mapping values are not allowed"):
		// key: value: more -- the second colon is the one at fault.
		if c := colonAfterValue(text); c > 0 {
			col = c
		}
		hint = `quote a value that holds ": ", or check the indentation of this line and the one above`
	case strings.HasPrefix(msg, "unknown anchor"):
		if l, c, ok := findAlias(src, msg); ok {
			line, col = l, c
		}
		hint = "aliases are not supported in these files anyway; write the value out"
	case strings.Contains(msg, "<document start>"):
		hint = "remove what follows the end of the top-level mapping"
	case strings.HasPrefix(msg, "did not find expected"):
		// The line is where the enclosing block began; the fault is on the
		// first line after it that the parser cannot take.
		if l := firstFailingLine(lines, line, msg); l > 0 {
			line = l
			col = firstNonBlank(lines[l-1])
		}
		hint = "check the indentation of this line against the lines above"
	case strings.Contains(msg, "could not find expected ':'"):
		hint = "write key: value, with a space after the colon"
	}
	return line, col, msg, hint
}

// runeCol returns the 1-based column of byte offset i of text, counted in
// characters as yaml.v3 counts them.
func runeCol(text string, i int) int {
	return utf8.RuneCountInString(text[:i]) + 1
}

// findTab returns the position of the first tab at or after line, preferring
// tabs in the leading white space of a line; line:1 when there is none.
func findTab(lines []string, line int) (int, int) {
	for i := line - 1; i < len(lines); i++ {
		text := lines[i]
		lead := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
		if j := strings.IndexByte(lead, '\t'); j >= 0 {
			return i + 1, runeCol(text, j)
		}
	}
	for i := line - 1; i < len(lines); i++ {
		if j := strings.IndexByte(lines[i], '\t'); j >= 0 {
			return i + 1, runeCol(lines[i], j)
		}
	}
	return line, 1
}

// colonAfterValue returns the column of a second ": " (or a trailing ":")
// on a line holding key: value: more, or 0.
func colonAfterValue(text string) int {
	first := strings.Index(text, ": ")
	if first < 0 {
		return 0
	}
	rest := text[first+2:]
	if j := strings.Index(rest, ": "); j >= 0 {
		return runeCol(text, first+2+j)
	}
	if strings.HasSuffix(rest, ":") {
		return runeCol(text, len(text)-1)
	}
	return 0
}

var anchorName = regexp.MustCompile(`^unknown anchor '(.*)' referenced`)

// findAlias locates the alias *NAME named by an "unknown anchor" error.
func findAlias(src []byte, msg string) (int, int, bool) {
	m := anchorName.FindStringSubmatch(msg)
	if m == nil || m[1] == "" {
		return 0, 0, false
	}
	text := string(src)
	for off := 0; ; {
		i := strings.Index(text[off:], "*"+m[1])
		if i < 0 {
			return 0, 0, false
		}
		i += off
		end := i + 1 + len(m[1])
		if end == len(text) || strings.ContainsRune(" \t\r\n,]}", rune(text[end])) {
			line := strings.Count(text[:i], "\n") + 1
			lineStart := strings.LastIndexByte(text[:i], '\n') + 1
			return line, runeCol(text[lineStart:], i-lineStart), true
		}
		off = i + 1
	}
}

// maxRescanBytes bounds the work of firstFailingLine on large files.
const maxRescanBytes = 1 << 22

// firstFailingLine returns the first line n >= from such that lines 1..n
// fail to parse with the same message, or 0. Prefixes that fail otherwise
// (cut inside a list or a quoted string) are passed over.
func firstFailingLine(lines []string, from int, msg string) int {
	budget := maxRescanBytes
	for n := max(from, 1); n <= len(lines); n++ {
		prefix := strings.Join(lines[:n], "\n") + "\n"
		if budget -= len(prefix); budget < 0 {
			return 0
		}
		var node yaml.Node
		err := yaml.Unmarshal([]byte(prefix), &node)
		if err == nil {
			continue
		}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil && m[2] == msg {
			return n
		}
	}
	return 0
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
		c.doc.bad[ptr] = true
		return nil
	}
	if _, seen := c.doc.values[ptr]; !seen {
		c.doc.values[ptr] = n
	}
	switch n.Kind {
	case yaml.AliasNode:
		c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "YAML aliases (*%s) are not supported; write the value out", n.Value)
		c.doc.bad[ptr] = true
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
		c.doc.bad[ptr] = true
		var u uint64
		if n.Decode(&u) == nil || strings.Trim(n.Value, "+-0123456789_") == "" {
			c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "integer %s is out of range", n.Value)
		} else {
			c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "%q is not an integer", n.Value)
		}
		return nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
		c.doc.bad[ptr] = true
		c.ds.Errorf(c.doc.File, n.Line, n.Column, ptr, "%s is not a finite number", n.Value)
		return nil
	case "!!binary":
		c.doc.bad[ptr] = true
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

// ReadFile reads a pipeline or trigger file. It refuses what is not a
// regular file (a folder, a device such as /dev/zero, a FIFO that would
// block) and files larger than MaxFileSize, without reading them whole.
// Errors do not repeat the path.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathError(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, pathError(err)
	}
	if !info.Mode().IsRegular() {
		if info.IsDir() {
			return nil, errors.New("is a folder, not a file")
		}
		return nil, errors.New("is not a regular file")
	}
	if info.Size() > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, pathError(err)
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
	}
	return src, nil
}
