package logging

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/etl-engine/etl/engine/secret"
)

func TestLoggerRedactsEverywhere(t *testing.T) {
	const canary = "canary-secret-8c1f2e"
	r := &secret.Redactor{}
	r.Add(canary)
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log, err := New(&buf, Options{Format: format, Level: "debug"}, r)
		if err != nil {
			t.Fatal(err)
		}
		log = log.With("static", "prefix-"+canary)
		log.Debug("message with "+canary,
			"string", canary,
			"error", fmt.Errorf("wrapped: %w", errors.New(canary)),
			"value", secret.New("X", "another-value"),
			"any", []string{canary},
		)
		log.WithGroup("g").Info("grouped", "k", canary)
		out := buf.String()
		if strings.Contains(out, canary) || strings.Contains(out, "another-value") {
			t.Fatalf("%s output leaks a secret:\n%s", format, out)
		}
		if n := strings.Count(out, secret.Redacted); n < 6 {
			t.Fatalf("%s output has %d redactions, want at least 6:\n%s", format, n, out)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, Options{Format: "xml"}, nil); err == nil {
		t.Fatal("format xml accepted")
	}
	if _, err := New(&bytes.Buffer{}, Options{Level: "loud"}, nil); err == nil {
		t.Fatal("level loud accepted")
	}
}

func TestLevelFilters(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, Options{Level: "warn"}, &secret.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Fatalf("output:\n%s", buf.String())
	}
}

func TestRedactingWriter(t *testing.T) {
	r := &secret.Redactor{}
	r.Add("token-abcdef")
	var buf bytes.Buffer
	w := RedactingWriter(&buf, r)
	n, err := w.Write([]byte("progress token-abcdef done\n"))
	if err != nil || n != len("progress token-abcdef done\n") {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if buf.String() != "progress [REDACTED] done\n" {
		t.Fatalf("got %q", buf.String())
	}
}
