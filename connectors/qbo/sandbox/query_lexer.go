package sandbox

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokenKind classifies a lexical token of the QBO query language.
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokString
	tokNumber
	tokStar
	tokLParen
	tokRParen
	tokComma
	tokOp
)

// token is one lexical token. For strings, text is the unescaped value.
type token struct {
	kind      tokenKind
	text      string
	line, col int // 1-based position of the first character
}

// is reports whether t is the keyword kw (case-insensitive).
func (t token) is(kw string) bool { return t.kind == tokIdent && strings.EqualFold(t.text, kw) }

// describe renders t for a QueryParserError message.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "<EOF>"
	case tokString:
		return fmt.Sprintf("%q", "'"+t.text+"'")
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// parseError is a syntax error; it renders as fault 4000 "Error parsing query".
type parseError struct{ msg string }

func (e *parseError) Error() string { return "QueryParserError: " + e.msg }

// lex splits a statement into tokens.
func lex(src string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	advance := func(s string) {
		for _, r := range s {
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
	}
	for i := 0; i < len(src); {
		c := src[i]
		start := token{line: line, col: col}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			advance(src[i : i+1])
			i++
			continue
		case c == '\'':
			val, n, ok := lexString(src[i:])
			if !ok {
				return nil, &parseError{fmt.Sprintf("Lexical error at line %d, column %d. Encountered: <EOF> after : %q (unterminated string)", line, col, src[i:])}
			}
			start.kind, start.text = tokString, val
			advance(src[i : i+n])
			i += n
		case isIdentByte(c) || c == '-' || c == '+':
			j := i + 1
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			start.text = src[i:j]
			start.kind = tokIdent
			if isNumber(start.text) {
				start.kind = tokNumber
			} else if c == '-' || c == '+' {
				return nil, &parseError{fmt.Sprintf("Lexical error at line %d, column %d. Encountered: %q", line, col, start.text)}
			}
			advance(src[i:j])
			i = j
		case c == '<' || c == '>':
			n := 1
			if i+1 < len(src) && (src[i+1] == '=' || (c == '<' && src[i+1] == '>')) {
				n = 2
			}
			start.kind, start.text = tokOp, src[i:i+n]
			advance(src[i : i+n])
			i += n
		case c == '=' || c == '!':
			n := 1
			if c == '!' && i+1 < len(src) && src[i+1] == '=' {
				n = 2
			}
			start.kind, start.text = tokOp, src[i:i+n]
			advance(src[i : i+n])
			i += n
		case c == '*' || c == '(' || c == ')' || c == ',':
			start.kind = punctuation(c)
			start.text = src[i : i+1]
			advance(src[i : i+1])
			i++
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, &parseError{fmt.Sprintf("Lexical error at line %d, column %d. Encountered: %q", line, col, string(r))}
		}
		toks = append(toks, start)
	}
	return append(toks, token{kind: tokEOF, line: line, col: col}), nil
}

// lexString reads a single-quoted string starting at s[0]; a backslash
// escapes the next character. It returns the value and the bytes consumed.
func lexString(s string) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return "", 0, false
			}
			i++
			b.WriteByte(s[i])
		case '\'':
			return b.String(), i + 1, true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, false
}

// isIdentByte reports whether c can appear in an identifier or number
// (letters, digits, '_', '.', ':' and UTF-8 continuation bytes).
func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c >= 0x80
}

// isNumber reports whether s is an optionally signed decimal number.
func isNumber(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	dot := false
	for _, c := range []byte(s) {
		switch {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return s != "."
}

// punctuation maps '*', '(', ')' and ',' to their token kinds.
func punctuation(c byte) tokenKind {
	switch c {
	case '*':
		return tokStar
	case '(':
		return tokLParen
	case ')':
		return tokRParen
	default:
		return tokComma
	}
}
