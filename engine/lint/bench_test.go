package lint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeVariants writes n pipeline files, variants of the shipped ones
// (name, step, entity, table, page size), into dir.
func writeVariants(tb testing.TB, dir string, n int) {
	tb.Helper()
	shipped, err := filepath.Glob(filepath.Join("..", "..", "pipelines", "*.yaml"))
	if err != nil || len(shipped) == 0 {
		tb.Fatalf("no shipped pipeline: %v", err)
	}
	steps := []string{"1h", "1d", "7d", "1mo", "1y"}
	for i := range n {
		src, err := os.ReadFile(shipped[i%len(shipped)])
		if err != nil {
			tb.Fatal(err)
		}
		stem := strings.TrimSuffix(filepath.Base(shipped[i%len(shipped)]), ".yaml")
		name := fmt.Sprintf("%s_%03d", stem, i)
		text := string(src)
		for _, r := range [][2]string{
			{"name: " + stem, "name: " + name},
			{"step: 1mo", "step: " + steps[i%len(steps)]},
			{"step: 1y", "step: " + steps[i%len(steps)]},
			{"table: qb_", fmt.Sprintf("table: t%03d_qb_", i)},
			{"default: 1000", fmt.Sprintf("default: %d", 100+i)},
		} {
			text = strings.Replace(text, r[0], r[1], 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkLint500 lints a folder of 500 pipeline files per iteration, as
// `etl lint` would. Target: under one second per iteration on two cores.
func BenchmarkLint500(b *testing.B) {
	dir := b.TempDir()
	writeVariants(b, dir, 500)
	res := Run([]string{dir}) // warm-up: compile the schemas once
	if len(res.Files) != 500 || res.Errors+res.Warnings != 0 {
		var sb strings.Builder
		WriteText(&sb, res)
		b.Fatalf("the generated files do not lint clean:\n%s", sb.String())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Run([]string{dir})
	}
}
