package doctor

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/etl-engine/etl/engine/config"
	"github.com/etl-engine/etl/engine/secret"
)

// defaultSecretsDir is where Docker mounts secrets, and where a Resolver
// without SecretsDir looks.
const defaultSecretsDir = "/run/secrets"

// Secrets checks that every ${secret:NAME} the pipelines reference can be
// resolved by r, as a run would resolve it: one check per distinct name,
// sorted by name, saying where the value was found (environment variable,
// file named by NAME_FILE, Docker secret) and never what it is. A missing
// name fails with the three places to set it. Each value found in a field
// marked secret is added to red (when not nil), so that whatever prints
// the checks can scrub it.
func Secrets(pipelines []*config.Pipeline, r *secret.Resolver, red *secret.Redactor) []Check {
	if r == nil {
		r = &secret.Resolver{}
	}
	dir := defaultSecretsDir
	if r.SecretsDir != "" {
		dir = r.SecretsDir
	}
	var out []Check
	for _, ref := range references(pipelines, config.RefSecret) {
		out = append(out, secretCheck(ref, len(pipelines), r, red, dir))
	}
	return out
}

func secretCheck(ref *reference, total int, r *secret.Resolver, red *secret.Redactor, dir string) Check {
	name := "secret " + ref.name
	users := usedBy(ref.pipelines, total)
	v, src, err := r.Lookup(ref.name)
	where := fmt.Sprintf("set %s or %s_FILE or %s", ref.name, ref.name, filepath.Join(dir, strings.ToLower(ref.name)))
	switch {
	case errors.Is(err, secret.ErrNotFound):
		return fail(name, "not set; "+users, where)
	case err != nil:
		// Lookup's errors name the places searched, never the value.
		return fail(name, err.Error()+"; "+users, "set exactly one of "+ref.name+", "+ref.name+"_FILE or "+
			filepath.Join(dir, strings.ToLower(ref.name))+", with a value that is not empty (docs/SECRETS.md)")
	}
	if ref.sensitive && red != nil {
		red.Add(v.Reveal())
	}
	var found string
	switch src {
	case secret.FromEnv:
		found = "found in the environment variable " + ref.name
	case secret.FromFileEnv:
		found = "found in the file named by " + ref.name + "_FILE"
	case secret.FromDockerSecret:
		found = "found as a Docker secret in " + dir
	default:
		found = "found (" + string(src) + ")"
	}
	return ok(name, found+"; "+users)
}

// Environment checks the ${env:NAME} references of the pipelines against
// lookup (nil: nothing is set): one check per distinct name, sorted. A
// variable that is not set fails when a pipeline uses it without a
// default (a run of that pipeline would stop), and is ok otherwise (the
// default applies). Values are shown: environment variables hold settings,
// not secrets (those are ${secret:NAME}).
func Environment(pipelines []*config.Pipeline, lookup func(string) (string, bool)) []Check {
	lookup = lookupOrUnset(lookup)
	var out []Check
	for _, ref := range references(pipelines, config.RefEnv) {
		name := "env " + ref.name
		users := usedBy(ref.pipelines, len(pipelines))
		if v, set := lookup(ref.name); set {
			out = append(out, ok(name, fmt.Sprintf("set to %s; %s", quoteShort(v), users)))
			continue
		}
		if ref.noDefault {
			out = append(out, fail(name, "not set and has no default; "+users,
				"set "+ref.name+", or give it a default in the pipeline: ${env:"+ref.name+":-value}"))
			continue
		}
		def := "the default " + quoteShort(ref.defaults[0])
		if len(ref.defaults) == 1 && ref.defaults[0] == "" {
			def = "the component's default"
		} else if len(ref.defaults) > 1 {
			def = "the pipelines' defaults"
		}
		out = append(out, ok(name, "not set; "+def+" applies; "+users))
	}
	return out
}

// quoteShort quotes s, cut to 80 bytes.
func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Sprintf("%q", s)
}
