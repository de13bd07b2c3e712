package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/diag"
)

// parseParams turns repeated --param NAME=VALUE flags into parameter values.
func parseParams(flags []string) (map[string]config.ParamValue, error) {
	out := map[string]config.ParamValue{}
	for _, f := range flags {
		name, value, ok := strings.Cut(f, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--param %q: write NAME=VALUE, e.g. --param fecha_inicio=2024-01-01T00:00:00Z", f)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--param %s is given twice", name)
		}
		out[name] = config.ParamValue{Value: value}
	}
	return out, nil
}

// bindPipeline loads a pipeline file and binds it to the --param values.
// Diagnostics go to w; the error carries exit code 2 (configuration).
func (a *app) bindPipeline(w io.Writer, file string, paramFlags []string, mode config.BindMode) (*config.Bound, error) {
	params, err := parseParams(paramFlags)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	p, ds := config.LoadPipeline(file)
	if p == nil || ds.HasErrors() {
		printDiags(w, ds)
		return nil, withCode(exitConfig, fmt.Errorf("%s has errors; run etl lint %s", file, file))
	}
	b := &config.Binder{Mode: mode, Secrets: a.secrets(), LookupEnv: a.lookupEnv}
	bound, bds := b.Bind(p, params)
	if bound == nil || bds.HasErrors() {
		printDiags(w, bds)
		return nil, withCode(exitConfig, fmt.Errorf("cannot bind %s", file))
	}
	for _, s := range bound.Secrets {
		a.redactor.Add(s.Reveal())
	}
	return bound, nil
}

func printDiags(w io.Writer, ds diag.List) {
	for _, d := range ds {
		fmt.Fprintln(w, d.String())
	}
}
