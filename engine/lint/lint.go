// Package lint checks pipeline and trigger files without any network or
// database call, and reports every problem at once.
package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/diag"
)

// Result is the outcome of a lint run.
type Result struct {
	Files       []string  `json:"files"`
	Errors      int       `json:"errors"`
	Warnings    int       `json:"warnings"`
	Diagnostics diag.List `json:"diagnostics"`
}

// Run lints the given files and folders (recursing into folders for
// .yaml and .yml files).
func Run(paths []string) Result {
	var res Result
	var files []string
	for _, p := range paths {
		found, err := collect(p)
		if err != nil {
			res.Diagnostics.Errorf(p, 0, 0, "", "%v", err)
			continue
		}
		files = append(files, found...)
	}
	slices.Sort(files)
	files = slices.Compact(files)
	res.Files = files
	l := &linter{pipelines: map[string]*pipelineResult{}}
	for _, f := range files {
		res.Diagnostics = append(res.Diagnostics, l.file(f)...)
	}
	res.Diagnostics = res.Diagnostics.Sort()
	res.Errors, res.Warnings = res.Diagnostics.Count()
	if res.Diagnostics == nil {
		res.Diagnostics = diag.List{}
	}
	return res
}

func collect(root string) ([]string, error) {
	info, err := os.Stat(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("no such file or folder")
		}
		return nil, err
	}
	if !info.IsDir() {
		return []string{filepath.Clean(root)}, nil
	}
	var out []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			out = append(out, filepath.Clean(path))
		}
		return nil
	})
	return out, err
}

type pipelineResult struct {
	p  *config.Pipeline
	ds diag.List
}

type linter struct {
	// pipelines caches pipelines by path, so a pipeline used by several
	// triggers is read once.
	pipelines map[string]*pipelineResult
}

func (l *linter) pipeline(path string) (*config.Pipeline, diag.List) {
	key := filepath.Clean(path)
	if r, ok := l.pipelines[key]; ok {
		return r.p, r.ds
	}
	p, ds := config.LoadPipeline(key)
	l.pipelines[key] = &pipelineResult{p: p, ds: ds}
	return p, ds
}

// file lints one file as a trigger or a pipeline.
func (l *linter) file(path string) diag.List {
	src, err := os.ReadFile(path)
	if err != nil {
		var ds diag.List
		ds.Errorf(path, 0, 0, "", "cannot read: %v", err)
		return ds
	}
	if !isTrigger(path, src) {
		p, ds := config.ParsePipeline(path, src)
		l.pipelines[filepath.Clean(path)] = &pipelineResult{p: p, ds: ds}
		if p != nil && !ds.HasErrors() {
			ds = append(ds, checkDefaults(p)...)
		}
		return ds
	}
	t, ds := config.ParseTrigger(path, src)
	if t == nil || t.PipelinePath == "" {
		return ds
	}
	_, tds := config.CheckTrigger(t, l.pipeline)
	return append(ds, tds...)
}

// checkDefaults binds a pipeline with its parameter defaults only, to catch
// defaults that cannot work together (fecha_fin <= fecha_inicio). A
// required parameter without a value is not a finding here.
func checkDefaults(p *config.Pipeline) diag.List {
	for _, ps := range p.Params {
		if !ps.HasDefault {
			return nil
		}
	}
	b := &config.Binder{Mode: config.BindCheck}
	_, ds := b.Bind(p, nil)
	return ds
}

// isTrigger tells a trigger file from a pipeline file: triggers name a
// pipeline at the top level, or live in a folder named triggers.
func isTrigger(path string, src []byte) bool {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(src, &top); err == nil {
		if _, ok := top["pipeline"]; ok {
			return true
		}
		if _, ok := top["loader"]; ok {
			return false
		}
	}
	return filepath.Base(filepath.Dir(path)) == "triggers"
}

// WriteText prints diagnostics one per line and a summary.
func WriteText(w io.Writer, res Result) {
	for _, d := range res.Diagnostics {
		fmt.Fprintln(w, d.String())
	}
	if res.Errors+res.Warnings == 0 {
		fmt.Fprintf(w, "%d %s checked, no problems\n", len(res.Files), plural(len(res.Files), "file", "files"))
		return
	}
	fmt.Fprintf(w, "%d %s, %d %s in %d %s checked\n",
		res.Errors, plural(res.Errors, "error", "errors"), res.Warnings, plural(res.Warnings, "warning", "warnings"),
		len(res.Files), plural(len(res.Files), "file", "files"))
}

// WriteJSON prints the result as one JSON object.
func WriteJSON(w io.Writer, res Result) error {
	if res.Files == nil {
		res.Files = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
