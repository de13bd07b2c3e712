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
	"runtime"
	"slices"
	"strings"
	"sync"

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
// .yaml and .yml files, skipping hidden folders and folders named
// testdata).
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
	// Files are checked in parallel, one worker per CPU; each file's
	// findings depend only on its content (and its pipeline's), so the
	// sorted result is the same in any order.
	l := &linter{pipelines: map[string]*pipelineResult{}}
	found := make([]diag.List, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			for i := range next {
				found[i] = l.file(files[i])
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, ds := range found {
		res.Diagnostics = append(res.Diagnostics, ds...)
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
		// Hidden folders and, as with the go tool, folders named testdata
		// (which hold broken files on purpose) are skipped unless named.
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
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
	mu sync.Mutex
	// pipelines caches pipelines by path, so a pipeline used by several
	// triggers is usually read once (twice at worst, when two workers ask
	// for it at the same time).
	pipelines map[string]*pipelineResult
}

func (l *linter) pipeline(path string) (*config.Pipeline, diag.List) {
	key := filepath.Clean(path)
	l.mu.Lock()
	r, ok := l.pipelines[key]
	l.mu.Unlock()
	if ok {
		return r.p, r.ds
	}
	p, ds := config.LoadPipeline(key)
	l.remember(key, p, ds)
	return p, ds
}

func (l *linter) remember(key string, p *config.Pipeline, ds diag.List) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pipelines[key] = &pipelineResult{p: p, ds: ds}
}

// file lints one file as a trigger or a pipeline.
func (l *linter) file(path string) diag.List {
	src, err := config.ReadFile(path)
	if err != nil {
		var ds diag.List
		ds.Errorf(path, 0, 0, "", "cannot read: %v", err)
		return ds
	}
	doc, ds := config.Parse(path, src)
	if doc == nil {
		return ds.Sort()
	}
	if !isTrigger(path, doc) {
		p, ds := config.PipelineFromDoc(doc, ds)
		l.remember(filepath.Clean(path), p, ds)
		if p != nil && !ds.HasErrors() {
			ds = append(ds, checkDefaults(p)...)
		}
		return ds
	}
	t, ds := config.TriggerFromDoc(doc, ds)
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
// pipeline at the top level, pipelines have a loader; failing both, files
// in a folder named triggers are triggers.
func isTrigger(path string, doc *config.Document) bool {
	switch {
	case doc.Has("/pipeline"):
		return true
	case doc.Has("/loader"):
		return false
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
