package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/config"
)

// CheckPipelines is the name of the check of LoadPipelines.
const CheckPipelines = "pipelines"

// LoadPipelines reads every pipeline file (*.yaml, *.yml) under dir,
// recursively, as etl lint does. It returns the pipelines that passed their
// static checks and one check: fail when dir cannot be read, holds no
// pipeline, or holds a file with errors (those files are left out).
func LoadPipelines(dir string) ([]*config.Pipeline, Check) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail(CheckPipelines, fmt.Sprintf("folder %s does not exist", dir), "point --pipelines at the folder of pipeline files")
	case err != nil:
		return nil, fail(CheckPipelines, fmt.Sprintf("reading %s: %v", dir, err), "point --pipelines at a readable folder of pipeline files")
	case len(files) == 0:
		return nil, fail(CheckPipelines, fmt.Sprintf("no *.yaml or *.yml files in %s", dir), "point --pipelines at the folder of pipeline files")
	}
	slices.Sort(files)
	var out []*config.Pipeline
	var names, broken []string
	for _, f := range files {
		p, ds := config.LoadPipeline(f)
		if p == nil || ds.HasErrors() {
			broken = append(broken, f)
			continue
		}
		out = append(out, p)
		names = append(names, p.Name)
	}
	if len(broken) > 0 {
		return out, fail(CheckPipelines,
			fmt.Sprintf("%d of %d files in %s have errors: %s", len(broken), len(files), dir, strings.Join(broken, ", ")),
			"run etl lint "+dir+" and fix what it reports")
	}
	return out, ok(CheckPipelines, fmt.Sprintf("%d %s in %s: %s", len(out), plural(len(out), "pipeline", "pipelines"), dir, strings.Join(names, ", ")))
}

// reference is one name referenced as ${secret:NAME} or ${env:NAME} by
// one or more pipelines.
type reference struct {
	name string
	// pipelines lists the pipelines that use the name, sorted.
	pipelines []string
	// sensitive is set when a secret fills a field marked secret (or one
	// the component does not declare): its value is redacted.
	sensitive bool
	// noDefault is set when an ${env:NAME} is written without a default
	// somewhere; defaults lists the defaults written elsewhere.
	noDefault bool
	defaults  []string
}

// references collects the references of kind in the pipelines, by name.
// Secrets are read only in component settings (etl lint refuses them
// elsewhere); environment variables anywhere in the file.
func references(pipelines []*config.Pipeline, kind config.RefKind) []*reference {
	byName := map[string]*reference{}
	add := func(p *config.Pipeline, r *config.Ref, sensitive bool) {
		ref := byName[r.Name]
		if ref == nil {
			ref = &reference{name: r.Name}
			byName[r.Name] = ref
		}
		if !slices.Contains(ref.pipelines, p.Name) {
			ref.pipelines = append(ref.pipelines, p.Name)
		}
		ref.sensitive = ref.sensitive || sensitive
		if r.HasDefault {
			if !slices.Contains(ref.defaults, r.Default) {
				ref.defaults = append(ref.defaults, r.Default)
			}
		} else {
			ref.noDefault = true
		}
	}
	for _, p := range pipelines {
		if kind == config.RefEnv {
			if p.Doc != nil {
				walkRefs(p.Doc.Data, kind, func(r *config.Ref) { add(p, r, false) })
			}
			continue
		}
		for _, cu := range components(p) {
			for key, raw := range cu.With {
				sensitive := true
				if cu.Reg != nil {
					if i := slices.IndexFunc(cu.Reg.Spec.Fields, func(f component.Field) bool { return f.Name == key }); i >= 0 {
						sensitive = cu.Reg.Spec.Fields[i].Secret
					}
				}
				walkRefs(raw, kind, func(r *config.Ref) { add(p, r, sensitive) })
			}
		}
	}
	out := make([]*reference, 0, len(byName))
	for _, r := range byName {
		slices.Sort(r.pipelines)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *reference) int { return strings.Compare(a.name, b.name) })
	return out
}

// components returns the loader, transforms and exporter of p.
func components(p *config.Pipeline) []config.ComponentUse {
	out := []config.ComponentUse{p.Loader}
	out = append(out, p.Transforms...)
	return append(out, p.Exporter)
}

// walkRefs calls fn for each reference of kind in the strings of v.
func walkRefs(v any, kind config.RefKind, fn func(*config.Ref)) {
	switch x := v.(type) {
	case string:
		t, _, err := config.ParseTemplate(x)
		if err != nil {
			return // reported by the pipeline checks
		}
		for _, r := range t.Refs() {
			if r.Kind == kind {
				fn(r)
			}
		}
	case map[string]any:
		for _, child := range x {
			walkRefs(child, kind, fn)
		}
	case []any:
		for _, child := range x {
			walkRefs(child, kind, fn)
		}
	}
}

// usedBy names the pipelines that use something, briefly: "used by all 3
// pipelines" when total (the number of pipelines checked) is reached.
func usedBy(pipelines []string, total int) string {
	if total > 1 && len(pipelines) == total {
		return fmt.Sprintf("used by all %d pipelines", total)
	}
	if len(pipelines) <= 3 {
		return "used by " + strings.Join(pipelines, ", ")
	}
	return fmt.Sprintf("used by %s and %d more", strings.Join(pipelines[:2], ", "), len(pipelines)-2)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// lookupOrUnset returns lookup, or a lookup that finds nothing when it is
// nil: a check never reads the process environment itself.
func lookupOrUnset(lookup func(string) (string, bool)) func(string) (string, bool) {
	if lookup != nil {
		return lookup
	}
	return func(string) (string, bool) { return "", false }
}
