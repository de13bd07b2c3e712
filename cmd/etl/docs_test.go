package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/etl-engine/etl/engine/secret"
)

// TestDocumentedCommandsExist checks every etl command written in README.md
// and docs/*.md: the sub-command exists, its flags parse, and it takes the
// number of arguments given. A renamed flag or command breaks this test
// before it breaks a user following the docs.
func TestDocumentedCommandsExist(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	checked := 0
	for _, f := range files {
		for _, c := range documentedCommands(t, f) {
			checked++
			if err := checkCommand(c.args, c.strict); err != "" {
				t.Errorf("%s:%d: %q: %s", filepath.Base(f), c.line, strings.Join(c.args, " "), err)
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d documented commands found; the extraction is broken", checked)
	}
}

type docCommand struct {
	line   int
	args   []string
	strict bool // from a code block: arguments are checked too
}

var inlineCommand = regexp.MustCompile("`((?:bin/)?etl [^`]+)`")

func documentedCommands(t *testing.T, file string) []docCommand {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []docCommand
	sc := bufio.NewScanner(fh)
	inBlock, shellBlock := false, false
	pending, start := "", 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			lang := strings.TrimPrefix(strings.TrimSpace(line), "```")
			inBlock = !inBlock
			shellBlock = inBlock && (lang == "bash" || lang == "sh")
			continue
		}
		if inBlock {
			if !shellBlock {
				continue
			}
			if pending == "" {
				start = n
			}
			pending += strings.TrimSuffix(line, `\`) + " "
			if strings.HasSuffix(line, `\`) {
				continue
			}
			cmdline := pending
			pending = ""
			if i := strings.Index(cmdline, " #"); i >= 0 {
				cmdline = cmdline[:i]
			}
			fields := strings.Fields(cmdline)
			if len(fields) > 0 && (fields[0] == "etl" || fields[0] == "bin/etl") {
				out = append(out, docCommand{line: start, args: fields[1:], strict: true})
			}
			continue
		}
		for _, m := range inlineCommand.FindAllStringSubmatch(line, -1) {
			fields := strings.Fields(m[1])
			out = append(out, docCommand{line: n, args: fields[1:]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkCommand returns what is wrong with args, or "".
func checkCommand(args []string, strict bool) string {
	root := newRootCmd(&app{redactor: &secret.Redactor{}})
	// Inline mentions use placeholders (PIPELINE.yaml, [PATH...], a|b).
	var clean []string
	for _, a := range args {
		if strings.ContainsAny(a, "[|") || a == "..." {
			break
		}
		clean = append(clean, a)
	}
	cmd, rest, err := root.Find(clean)
	if err != nil {
		return err.Error()
	}
	if cmd == root && len(clean) > 0 {
		return "no such command"
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err.Error()
	}
	if strict && cmd.Args != nil {
		if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
			return err.Error()
		}
	}
	return ""
}
