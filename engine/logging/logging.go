// Package logging builds the engine's slog loggers: text or JSON, with every
// known secret value scrubbed from messages and attributes before they are
// written.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/etl-engine/etl/engine/secret"
)

// Options configure New.
type Options struct {
	// Format is "text" (default) or "json".
	Format string
	// Level is debug, info (default), warn or error.
	Level string
}

// ParseLevel parses a level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// New returns a logger writing to w. Every string that reaches w passes
// through r, so a secret value that slipped into a message or an error is
// still replaced by [REDACTED].
func New(w io.Writer, o Options, r *secret.Redactor) (*slog.Logger, error) {
	level := slog.LevelInfo
	if o.Level != "" {
		l, err := ParseLevel(o.Level)
		if err != nil {
			return nil, err
		}
		level = l
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch o.Format {
	case "", "text":
		h = slog.NewTextHandler(w, hopts)
	case "json":
		h = slog.NewJSONHandler(w, hopts)
	default:
		return nil, fmt.Errorf("log format %q: use text or json", o.Format)
	}
	return slog.New(&redactingHandler{next: h, r: r}), nil
}

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

type redactingHandler struct {
	next slog.Handler
	r    *secret.Redactor
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Redact(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, ga := range attrs {
			out[i] = h.attr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.r.Redact(err.Error()))
		}
		return slog.String(a.Key, h.r.Redact(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &redactingHandler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{next: h.next.WithGroup(name), r: h.r}
}

// RedactingWriter wraps w so that everything written passes through r. Use
// it for output that does not go through a logger, such as progress lines.
func RedactingWriter(w io.Writer, r *secret.Redactor) io.Writer { return &redactWriter{w: w, r: r} }

type redactWriter struct {
	w io.Writer
	r *secret.Redactor
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
