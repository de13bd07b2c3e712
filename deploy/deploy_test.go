// Package deploy checks the deployment files at the repository root
// (Dockerfile, .dockerignore, docker-compose.yml, docker-compose.qbo.yml,
// secrets/*.example, deploy/pgadmin/servers.json and the GitHub workflow)
// without Docker: no engine is needed, so these checks run in plain
// `go test ./...` on every machine and in CI.
//
// Every rule is a function that returns an error describing what is wrong.
// The positive tests run the rules on the real files; the negative tables
// run each rule on a small broken file written inline, so a rule that could
// never fail is itself a test failure.
package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
)

// Names of the contract (ARCHITECTURE.md and the deployment brief).
const (
	svcPostgres = "postgres"
	svcPgAdmin  = "pgadmin"
	svcMigrate  = "migrate"
	svcETL      = "etl"
	svcSandbox  = "qbo-sandbox"

	networkName = "etl-internal"

	composeFile  = "docker-compose.yml"
	overrideFile = "docker-compose.qbo.yml"
	workflowFile = ".github/workflows/ci.yml"

	sandboxBaseURL  = "http://qbo-sandbox:8089"
	sandboxTokenURL = "http://qbo-sandbox:8089/oauth2/v1/tokens/bearer"
)

var allServices = []string{svcPostgres, svcPgAdmin, svcMigrate, svcETL, svcSandbox}

// repoRoot is the repository root: tests run in the package folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s has no go.mod: %v", root, err)
	}
	return root
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------------------
// Loading compose files

// loadCompose loads compose files (name → content) the way `docker compose`
// does: interpolation with an empty environment (so only the defaults in the
// files apply and the result does not depend on the machine), merging in
// order, !reset/!override tags, profiles. With strict, compose-go's own
// consistency check runs too; the negative tests turn it off so that the
// rules of this file are what catches a broken file.
func loadCompose(t *testing.T, dir string, strict bool, profiles []string, files ...types.ConfigFile) (*types.Project, error) {
	t.Helper()
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: files,
		Environment: types.Mapping{},
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("deploytest", false) // the file's `name:` wins
		o.SkipConsistencyCheck = !strict
		o.Profiles = profiles
	})
}

func composeFiles(t *testing.T, root string, names ...string) []types.ConfigFile {
	t.Helper()
	var files []types.ConfigFile
	for _, n := range names {
		p := filepath.Join(root, n)
		files = append(files, types.ConfigFile{Filename: p, Content: readFile(t, p)})
	}
	return files
}

// ---------------------------------------------------------------------------
// Compose rules

type composeRule struct {
	name string
	fn   func(*types.Project) error
}

// baseRules hold for docker-compose.yml alone (the sandbox stack).
var baseRules = []composeRule{
	{"services", checkServices},
	{"network", checkNetwork},
	{"healthchecks", checkHealthchecks},
	{"depends_on", checkDependsOn},
	{"secrets", checkSecrets},
	{"environment", checkEnvironment},
	{"ports", checkPorts},
	{"etl command", checkETLCommand},
	{"volumes", checkVolumes},
	{"etl image", checkETLImage},
	{"sandbox endpoints", checkSandboxMode},
}

// overrideRules hold for docker-compose.yml + docker-compose.qbo.yml.
var overrideRules = []composeRule{
	{"network", checkNetwork},
	{"healthchecks", checkHealthchecks},
	{"depends_on", checkDependsOn},
	{"secrets", checkSecrets},
	{"environment", checkEnvironment},
	{"ports", checkPorts},
	{"etl command", checkETLCommand},
	{"volumes", checkVolumes},
	{"production endpoints", checkProductionMode},
}

func service(p *types.Project, name string) (types.ServiceConfig, error) {
	s, ok := p.Services[name]
	if !ok {
		return s, fmt.Errorf("service %q is missing", name)
	}
	return s, nil
}

func checkServices(p *types.Project) error {
	var errs []error
	for _, name := range allServices {
		if _, err := service(p, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkNetwork: one network, every enabled service on it and only on it.
// Docker publishes no port of a container whose only network is internal,
// so when any service publishes a port the network must not be internal.
func checkNetwork(p *types.Project) error {
	var errs []error
	var names []string
	for n := range p.Networks {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{networkName}) {
		errs = append(errs, fmt.Errorf("networks = %v, want exactly [%s]", names, networkName))
	}
	nw, ok := p.Networks[networkName]
	if ok {
		if nw.External {
			errs = append(errs, fmt.Errorf("network %s must be created by this project, not external", networkName))
		}
		if nw.Driver != "" && nw.Driver != "bridge" {
			errs = append(errs, fmt.Errorf("network %s driver = %q, want bridge", networkName, nw.Driver))
		}
	}
	publishes := false
	for _, name := range sortedServiceNames(p) {
		s := p.Services[name]
		var on []string
		for n := range s.Networks {
			on = append(on, n)
		}
		slices.Sort(on)
		if !slices.Equal(on, []string{networkName}) {
			errs = append(errs, fmt.Errorf("service %s is on networks %v, want only [%s]", name, on, networkName))
		}
		if s.NetworkMode != "" {
			errs = append(errs, fmt.Errorf("service %s sets network_mode %q", name, s.NetworkMode))
		}
		if len(s.Ports) > 0 {
			publishes = true
		}
	}
	if ok && nw.Internal && publishes {
		errs = append(errs, fmt.Errorf("network %s is internal but a service publishes a port: Docker would not publish it", networkName))
	}
	return errors.Join(errs...)
}

func healthTest(s types.ServiceConfig) string {
	if s.HealthCheck == nil || s.HealthCheck.Disable {
		return ""
	}
	return strings.Join(s.HealthCheck.Test, " ")
}

func checkHealthchecks(p *types.Project) error {
	var errs []error
	if s, err := service(p, svcPostgres); err != nil {
		errs = append(errs, err)
	} else if h := healthTest(s); !strings.Contains(h, "pg_isready") {
		errs = append(errs, fmt.Errorf("service %s: healthcheck %q does not run pg_isready", svcPostgres, h))
	}
	// The sandbox is optional (left out with the QBO override); when it runs,
	// etl waits for it to be healthy, so it must have a real check.
	if s, ok := p.Services[svcSandbox]; ok {
		if h := healthTest(s); !strings.Contains(h, "/_sandbox/health") {
			errs = append(errs, fmt.Errorf("service %s: healthcheck %q does not call /_sandbox/health", svcSandbox, h))
		}
	}
	return errors.Join(errs...)
}

func wantDependency(p *types.Project, from, to, condition string) error {
	s, err := service(p, from)
	if err != nil {
		return err
	}
	d, ok := s.DependsOn[to]
	if !ok {
		return fmt.Errorf("service %s does not depend on %s", from, to)
	}
	if d.Condition != condition {
		return fmt.Errorf("service %s waits for %s with condition %q, want %q", from, to, d.Condition, condition)
	}
	return nil
}

func checkDependsOn(p *types.Project) error {
	errs := []error{
		wantDependency(p, svcMigrate, svcPostgres, types.ServiceConditionHealthy),
		wantDependency(p, svcETL, svcPostgres, types.ServiceConditionHealthy),
		wantDependency(p, svcETL, svcMigrate, types.ServiceConditionCompletedSuccessfully),
	}
	if _, ok := p.Services[svcSandbox]; ok {
		errs = append(errs, wantDependency(p, svcETL, svcSandbox, types.ServiceConditionHealthy))
	} else if s, ok := p.Services[svcETL]; ok {
		if _, dep := s.DependsOn[svcSandbox]; dep {
			errs = append(errs, fmt.Errorf("service %s depends on %s, which is not enabled", svcETL, svcSandbox))
		}
	}
	// A one-shot that restarts never "completes successfully", and etl would
	// never start; the scheduler itself must come back after a crash or reboot.
	if s, ok := p.Services[svcMigrate]; ok && s.Restart != "" && s.Restart != "no" {
		errs = append(errs, fmt.Errorf("service %s: restart %q, want \"no\" (one-shot)", svcMigrate, s.Restart))
	}
	if s, ok := p.Services[svcETL]; ok && s.Restart != "unless-stopped" {
		errs = append(errs, fmt.Errorf("service %s: restart %q, want unless-stopped", svcETL, s.Restart))
	}
	return errors.Join(errs...)
}

// checkSecrets: every secret a service mounts is declared at the top level
// and read from a file under <project>/secrets/ (git-ignored), never from an
// environment variable or inline content; and each declared file has its
// committed template <file>.example.
func checkSecrets(p *types.Project) error {
	var errs []error
	secretsDir := filepath.Join(p.WorkingDir, "secrets") + string(filepath.Separator)
	for _, name := range sortedServiceNames(p) {
		for _, ref := range p.Services[name].Secrets {
			if _, ok := p.Secrets[ref.Source]; !ok {
				errs = append(errs, fmt.Errorf("service %s uses secret %q, which is not declared", name, ref.Source))
			}
		}
	}
	var declared []string
	for n := range p.Secrets {
		declared = append(declared, n)
	}
	slices.Sort(declared)
	for _, n := range declared {
		s := p.Secrets[n]
		switch {
		case bool(s.External):
			errs = append(errs, fmt.Errorf("secret %s is external; want a file under secrets/", n))
			continue
		case s.Environment != "" || s.Content != "":
			errs = append(errs, fmt.Errorf("secret %s comes from an environment variable or inline content; want a file under secrets/", n))
			continue
		case s.File == "":
			errs = append(errs, fmt.Errorf("secret %s has no file", n))
			continue
		}
		file := s.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(p.WorkingDir, file)
		}
		file = filepath.Clean(file)
		if !strings.HasPrefix(file, secretsDir) || strings.ContainsRune(strings.TrimPrefix(file, secretsDir), filepath.Separator) {
			errs = append(errs, fmt.Errorf("secret %s: file %s is not directly under %s", n, s.File, secretsDir))
			continue
		}
		if strings.HasSuffix(file, ".example") {
			errs = append(errs, fmt.Errorf("secret %s reads the committed template %s; point it at the git-ignored file", n, s.File))
			continue
		}
		if _, err := os.Stat(file + ".example"); err != nil {
			errs = append(errs, fmt.Errorf("secret %s: template %s.example is missing", n, s.File))
		}
	}
	return errors.Join(errs...)
}

var (
	// sensitiveKey names a variable whose value would be a credential.
	sensitiveKey = regexp.MustCompile(`(?i)PASSWORD|SECRET|TOKEN`)
	// urlUserPassword finds scheme://user:password@ in any value.
	urlUserPassword = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:[^/\s@]+@`)
)

// nonSecretKeys match sensitiveKey but hold no credential; each must be a
// plain http(s) URL.
var nonSecretKeys = map[string]bool{
	"QBO_TOKEN_URL": true, // the OAuth2 token endpoint
}

// secretPath is where a service's secret is mounted in its container.
func secretPath(ref types.ServiceSecretConfig) string {
	target := ref.Target
	if target == "" {
		target = ref.Source
	}
	if !strings.HasPrefix(target, "/") {
		target = "/run/secrets/" + target
	}
	return target
}

// checkEnvironment: no environment value is a secret. A variable whose name
// says PASSWORD, SECRET or TOKEN must be NAME_FILE and point at a secret
// mounted in that service under /run/secrets; no value anywhere (environment
// or command) carries URL credentials or the value of a secret template.
func checkEnvironment(p *types.Project) error {
	var errs []error
	templateValues := sensitiveTemplateValues(p.WorkingDir)
	for _, name := range sortedServiceNames(p) {
		s := p.Services[name]
		mounted := map[string]bool{}
		for _, ref := range s.Secrets {
			mounted[secretPath(ref)] = true
		}
		var keys []string
		for k := range s.Environment {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := ""
			if s.Environment[k] != nil {
				v = *s.Environment[k]
			}
			if urlUserPassword.MatchString(v) {
				errs = append(errs, fmt.Errorf("service %s: %s holds a URL with a password", name, k))
			}
			if templateValues[v] {
				errs = append(errs, fmt.Errorf("service %s: %s holds the value of a secret template", name, k))
			}
			if !sensitiveKey.MatchString(k) {
				continue
			}
			if nonSecretKeys[k] {
				if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
					errs = append(errs, fmt.Errorf("service %s: %s = %q, want a plain http(s) URL", name, k, v))
				}
				continue
			}
			switch {
			case !strings.HasSuffix(k, "_FILE"):
				errs = append(errs, fmt.Errorf("service %s: %s is set in the environment; use %s_FILE and a Docker secret", name, k, k))
			case !strings.HasPrefix(v, "/run/secrets/"):
				errs = append(errs, fmt.Errorf("service %s: %s = %q, want a path under /run/secrets/", name, k, v))
			case !mounted[v]:
				errs = append(errs, fmt.Errorf("service %s: %s = %q, but no secret of the service is mounted there", name, k, v))
			}
		}
		args := append(slices.Clone([]string(s.Command)), s.Entrypoint...)
		for _, a := range args {
			if urlUserPassword.MatchString(a) || templateValues[a] {
				errs = append(errs, fmt.Errorf("service %s: command argument holds a credential", name))
			}
		}
	}
	return errors.Join(errs...)
}

// sensitiveTemplateValues returns the values of the secret templates whose
// names say password, secret or token (the sandbox ones included: they are
// fake, but a value pasted inline would show where real ones would go).
// Short values are left out so that they cannot match by chance.
func sensitiveTemplateValues(dir string) map[string]bool {
	out := map[string]bool{}
	matches, _ := filepath.Glob(filepath.Join(dir, "secrets", "*.example"))
	for _, m := range matches {
		if !sensitiveKey.MatchString(filepath.Base(m)) {
			continue
		}
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if v := strings.TrimRight(string(b), "\r\n"); len(v) >= 8 {
			out[v] = true
		}
	}
	return out
}

// checkPorts: a published port binds the loopback address only.
func checkPorts(p *types.Project) error {
	var errs []error
	for _, name := range sortedServiceNames(p) {
		for _, port := range p.Services[name].Ports {
			if port.HostIP != "127.0.0.1" {
				errs = append(errs, fmt.Errorf("service %s publishes %d on host address %q, want 127.0.0.1", name, port.Target, port.HostIP))
			}
		}
	}
	return errors.Join(errs...)
}

func checkETLCommand(p *types.Project) error {
	s, err := service(p, svcETL)
	if err != nil {
		return err
	}
	cmd := []string(s.Command)
	if len(cmd) < 2 || cmd[0] != "triggers" || cmd[1] != "serve" {
		return fmt.Errorf("service %s command = %q, want triggers serve ...", svcETL, cmd)
	}
	if i := slices.Index(cmd, "--dir"); i < 0 || i+1 >= len(cmd) || cmd[i+1] != "/app/triggers" {
		return fmt.Errorf("service %s command = %q, want --dir /app/triggers", svcETL, cmd)
	}
	return nil
}

func hasVolume(s types.ServiceConfig, typ, target string, readOnly bool) *types.ServiceVolumeConfig {
	for i, v := range s.Volumes {
		if v.Type == typ && v.Target == target && (!readOnly || v.ReadOnly) {
			return &s.Volumes[i]
		}
	}
	return nil
}

// checkVolumes: data that must survive a container lives in named volumes,
// and pgAdmin gets the committed server list read-only.
func checkVolumes(p *types.Project) error {
	var errs []error
	want := []struct{ svc, target string }{
		{svcPostgres, "/var/lib/postgresql/data"},
		{svcETL, "/app/evidence"},
	}
	for _, w := range want {
		s, err := service(p, w.svc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v := hasVolume(s, types.VolumeTypeVolume, w.target, false); v == nil {
			errs = append(errs, fmt.Errorf("service %s has no named volume at %s", w.svc, w.target))
		} else if _, ok := p.Volumes[v.Source]; !ok {
			errs = append(errs, fmt.Errorf("service %s mounts volume %q, which is not declared", w.svc, v.Source))
		}
	}
	if s, err := service(p, svcPgAdmin); err != nil {
		errs = append(errs, err)
	} else if v := hasVolume(s, types.VolumeTypeBind, "/pgadmin4/servers.json", true); v == nil {
		errs = append(errs, fmt.Errorf("service %s does not mount servers.json read-only at /pgadmin4/servers.json", svcPgAdmin))
	} else if want := filepath.Join(p.WorkingDir, "deploy", "pgadmin", "servers.json"); filepath.Clean(v.Source) != want {
		errs = append(errs, fmt.Errorf("service %s mounts %s as servers.json, want %s", svcPgAdmin, v.Source, want))
	}
	return errors.Join(errs...)
}

// checkETLImage: migrate, etl and the sandbox run the one image built from
// the Dockerfile at the root.
func checkETLImage(p *types.Project) error {
	var errs []error
	image := ""
	for _, name := range []string{svcMigrate, svcETL, svcSandbox} {
		s, err := service(p, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s.Build == nil || filepath.Clean(s.Build.Context) != filepath.Clean(p.WorkingDir) {
			errs = append(errs, fmt.Errorf("service %s is not built from the repository's Dockerfile", name))
		}
		if image == "" {
			image = s.Image
		}
		if s.Image == "" || s.Image != image {
			errs = append(errs, fmt.Errorf("service %s image %q, want the same image as the others (%q)", name, s.Image, image))
		}
	}
	return errors.Join(errs...)
}

func env(s types.ServiceConfig, key string) (string, bool) {
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return "", ok
	}
	return *v, true
}

// etlQBOSecrets maps each QBO secret's mount name (what etl reads as
// /run/secrets/<name in lower case>) to the declared secret behind it.
func etlQBOSecrets(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for _, ref := range s.Secrets {
		out[strings.TrimPrefix(secretPath(ref), "/run/secrets/")] = ref.Source
	}
	return out
}

var qboSecretNames = []string{"QBO_CLIENT_ID", "QBO_CLIENT_SECRET", "QBO_REFRESH_TOKEN", "QBO_REALM_ID"}

// checkSandboxMode: in the base file etl talks to the sandbox with the
// sandbox credentials.
func checkSandboxMode(p *types.Project) error {
	s, err := service(p, svcETL)
	if err != nil {
		return err
	}
	var errs []error
	for k, want := range map[string]string{"QBO_ENV": "sandbox", "QBO_BASE_URL": sandboxBaseURL, "QBO_TOKEN_URL": sandboxTokenURL} {
		if got, _ := env(s, k); got != want {
			errs = append(errs, fmt.Errorf("service %s: %s = %q, want %q", svcETL, k, got, want))
		}
	}
	mounted := etlQBOSecrets(s)
	for _, n := range qboSecretNames {
		lower := strings.ToLower(n)
		if src := mounted[lower]; !strings.HasPrefix(src, "qbo_sandbox_") {
			errs = append(errs, fmt.Errorf("service %s: %s comes from secret %q, want a qbo_sandbox_* secret", svcETL, lower, src))
		}
	}
	return errors.Join(errs...)
}

// checkProductionMode: with the override etl talks to Intuit with the real
// credentials and the sandbox is not started.
func checkProductionMode(p *types.Project) error {
	var errs []error
	if _, ok := p.Services[svcSandbox]; ok {
		errs = append(errs, fmt.Errorf("service %s is enabled; the QBO override must leave it out", svcSandbox))
	}
	s, err := service(p, svcETL)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if got, _ := env(s, "QBO_ENV"); got != "production" {
		errs = append(errs, fmt.Errorf("service %s: QBO_ENV = %q, want production", svcETL, got))
	}
	for _, k := range []string{"QBO_BASE_URL", "QBO_TOKEN_URL"} {
		if v, ok := env(s, k); ok {
			errs = append(errs, fmt.Errorf("service %s: %s = %q is set; production uses the endpoints QBO_ENV selects", svcETL, k, v))
		}
	}
	mounted := etlQBOSecrets(s)
	for _, n := range qboSecretNames {
		lower := strings.ToLower(n)
		if src := mounted[lower]; src != lower {
			errs = append(errs, fmt.Errorf("service %s: %s comes from secret %q, want %q", svcETL, lower, src, lower))
		}
	}
	return errors.Join(errs...)
}

func sortedServiceNames(p *types.Project) []string {
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ---------------------------------------------------------------------------
// Compose tests

func TestComposeSandboxStack(t *testing.T) {
	root := repoRoot(t)
	p, err := loadCompose(t, root, true, nil, composeFiles(t, root, composeFile)...)
	if err != nil {
		t.Fatalf("loading %s: %v", composeFile, err)
	}
	for _, r := range baseRules {
		if err := r.fn(p); err != nil {
			t.Errorf("%s: %s:\n%v", composeFile, r.name, err)
		}
	}
}

func TestComposeQBOOverride(t *testing.T) {
	root := repoRoot(t)
	p, err := loadCompose(t, root, true, nil, composeFiles(t, root, composeFile, overrideFile)...)
	if err != nil {
		t.Fatalf("loading %s + %s: %v", composeFile, overrideFile, err)
	}
	for _, r := range overrideRules {
		if err := r.fn(p); err != nil {
			t.Errorf("%s + %s: %s:\n%v", composeFile, overrideFile, r.name, err)
		}
	}
	want := []string{svcETL, svcMigrate, svcPgAdmin, svcPostgres}
	if got := sortedServiceNames(p); !slices.Equal(got, want) {
		t.Errorf("enabled services = %v, want %v", got, want)
	}
	if _, ok := p.DisabledServices[svcSandbox]; !ok {
		t.Errorf("%s should stay defined (behind a profile) so `--profile sandbox` can still start it", svcSandbox)
	}
}

// The sandbox accepts only the credentials it was started with; the stack
// starts it with its defaults, so the sandbox templates must hold those.
func TestSandboxSecretTemplatesMatchSandboxDefaults(t *testing.T) {
	root := repoRoot(t)
	for file, want := range map[string]string{
		"qbo_sandbox_client_id.txt.example":     sandbox.DefaultClientID,
		"qbo_sandbox_client_secret.txt.example": sandbox.DefaultClientSecret,
		"qbo_sandbox_refresh_token.txt.example": sandbox.DefaultRefreshToken,
		"qbo_sandbox_realm_id.txt.example":      sandbox.DefaultRealmID,
	} {
		got := strings.TrimRight(string(readFile(t, filepath.Join(root, "secrets", file))), "\r\n")
		if got != want {
			t.Errorf("secrets/%s = %q, want the sandbox default %q", file, got, want)
		}
	}
}

// Only the templates may be committed: the real secret files next to them
// must be ignored by git.
func TestGitignoreKeepsSecretsOut(t *testing.T) {
	if err := checkGitignore(string(readFile(t, filepath.Join(repoRoot(t), ".gitignore")))); err != nil {
		t.Error(err)
	}
}

func checkGitignore(text string) error {
	var ignores, keepsExamples bool
	for _, line := range strings.Split(text, "\n") {
		switch strings.TrimSpace(line) {
		case "/secrets/*", "secrets/*", "/secrets/**", "secrets/**":
			ignores = true
		case "!/secrets/*.example", "!secrets/*.example":
			keepsExamples = true
		}
	}
	if !ignores || !keepsExamples {
		return fmt.Errorf(".gitignore must ignore secrets/* and keep secrets/*.example (ignores=%v, keeps examples=%v)", ignores, keepsExamples)
	}
	return nil
}

func TestPgAdminServers(t *testing.T) {
	root := repoRoot(t)
	p, err := loadCompose(t, root, true, nil, composeFiles(t, root, composeFile)...)
	if err != nil {
		t.Fatal(err)
	}
	user := strings.TrimRight(string(readFile(t, filepath.Join(root, "secrets", "postgres_user.txt.example"))), "\r\n")
	if err := checkPgAdminServers(readFile(t, filepath.Join(root, "deploy", "pgadmin", "servers.json")), p, user); err != nil {
		t.Error(err)
	}
}

// checkPgAdminServers: servers.json has the fields pgAdmin's importer
// requires, points at the compose postgres service and its database, and
// holds no password.
func checkPgAdminServers(data []byte, p *types.Project, user string) error {
	var doc struct {
		Servers map[string]map[string]any `json:"Servers"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("servers.json: %w", err)
	}
	if len(doc.Servers) == 0 {
		return errors.New("servers.json: no server")
	}
	if regexp.MustCompile(`(?i)"[^"]*pass(word)?"\s*:`).Match(data) {
		return errors.New("servers.json: holds a password field; pgAdmin must ask for it")
	}
	db := ""
	if s, ok := p.Services[svcPostgres]; ok {
		db, _ = env(s, "POSTGRES_DB")
	}
	var errs []error
	for id, srv := range doc.Servers {
		for _, k := range []string{"Name", "Group", "Port", "Username", "MaintenanceDB", "Host"} {
			if _, ok := srv[k]; !ok {
				errs = append(errs, fmt.Errorf("servers.json server %s: %s is missing", id, k))
			}
		}
		if port, ok := srv["Port"].(float64); !ok || port != 5432 {
			errs = append(errs, fmt.Errorf("servers.json server %s: Port = %v, want the number 5432", id, srv["Port"]))
		}
		if srv["Host"] != svcPostgres {
			errs = append(errs, fmt.Errorf("servers.json server %s: Host = %v, want the service name %s", id, srv["Host"], svcPostgres))
		}
		if srv["MaintenanceDB"] != db {
			errs = append(errs, fmt.Errorf("servers.json server %s: MaintenanceDB = %v, want POSTGRES_DB %q", id, srv["MaintenanceDB"], db))
		}
		if srv["Username"] != user {
			errs = append(errs, fmt.Errorf("servers.json server %s: Username = %v, want %q (secrets/postgres_user.txt.example)", id, srv["Username"], user))
		}
	}
	return errors.Join(errs...)
}

// A valid stack in inline form; each negative case below breaks one rule.
const goodStack = `
services:
  postgres:
    image: postgres:15
    environment:
      POSTGRES_DB: etl
      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
    secrets: [postgres_password]
    volumes: [pgdata:/var/lib/postgresql/data]
    networks: [etl-internal]
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1"]
  pgadmin:
    image: dpage/pgadmin4:9
    networks: [etl-internal]
    volumes: ["./deploy/pgadmin/servers.json:/pgadmin4/servers.json:ro"]
    ports: ["127.0.0.1:5050:80"]
  migrate:
    image: etl:local
    build: .
    command: [migrate]
    networks: [etl-internal]
    depends_on:
      postgres: {condition: service_healthy}
  etl:
    image: etl:local
    build: .
    command: [triggers, serve, --dir, /app/triggers]
    restart: unless-stopped
    environment:
      QBO_ENV: sandbox
      QBO_BASE_URL: http://qbo-sandbox:8089
      QBO_TOKEN_URL: http://qbo-sandbox:8089/oauth2/v1/tokens/bearer
      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
    secrets:
      - postgres_password
      - {source: qbo_sandbox_client_id, target: qbo_client_id}
      - {source: qbo_sandbox_client_secret, target: qbo_client_secret}
      - {source: qbo_sandbox_refresh_token, target: qbo_refresh_token}
      - {source: qbo_sandbox_realm_id, target: qbo_realm_id}
    volumes: [evidence:/app/evidence]
    networks: [etl-internal]
    depends_on:
      postgres: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
      qbo-sandbox: {condition: service_healthy}
  qbo-sandbox:
    image: etl:local
    build: .
    command: [sandbox]
    networks: [etl-internal]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8089/_sandbox/health"]
networks:
  etl-internal: {}
volumes:
  pgdata: {}
  evidence: {}
secrets:
  postgres_password: {file: ./secrets/postgres_password.txt}
  qbo_sandbox_client_id: {file: ./secrets/qbo_sandbox_client_id.txt}
  qbo_sandbox_client_secret: {file: ./secrets/qbo_sandbox_client_secret.txt}
  qbo_sandbox_refresh_token: {file: ./secrets/qbo_sandbox_refresh_token.txt}
  qbo_sandbox_realm_id: {file: ./secrets/qbo_sandbox_realm_id.txt}
`

// goodOverride is a valid QBO override of goodStack.
const goodOverride = `
services:
  qbo-sandbox:
    profiles: [sandbox]
  etl:
    environment:
      QBO_ENV: production
      QBO_BASE_URL: !reset null
      QBO_TOKEN_URL: !reset null
    secrets: !override
      - postgres_password
      - qbo_client_id
      - qbo_client_secret
      - qbo_refresh_token
      - qbo_realm_id
    depends_on: !override
      postgres: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
secrets:
  qbo_client_id: {file: ./secrets/qbo_client_id.txt}
  qbo_client_secret: {file: ./secrets/qbo_client_secret.txt}
  qbo_refresh_token: {file: ./secrets/qbo_refresh_token.txt}
  qbo_realm_id: {file: ./secrets/qbo_realm_id.txt}
`

// stackDir makes a project folder with the secret templates and the
// pgAdmin server file that goodStack refers to.
func stackDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"secrets", filepath.Join("deploy", "pgadmin")} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	templates := map[string]string{
		"postgres_password.txt.example":         "template-postgres-password",
		"qbo_sandbox_client_id.txt.example":     sandbox.DefaultClientID,
		"qbo_sandbox_client_secret.txt.example": sandbox.DefaultClientSecret,
		"qbo_sandbox_refresh_token.txt.example": sandbox.DefaultRefreshToken,
		"qbo_sandbox_realm_id.txt.example":      sandbox.DefaultRealmID,
		"qbo_client_id.txt.example":             "REPLACE-client-id",
		"qbo_client_secret.txt.example":         "REPLACE-client-secret",
		"qbo_refresh_token.txt.example":         "REPLACE-refresh-token",
		"qbo_realm_id.txt.example":              "REPLACE-realm-id",
	}
	for name, v := range templates {
		if err := os.WriteFile(filepath.Join(dir, "secrets", name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func inline(name, content string) types.ConfigFile {
	return types.ConfigFile{Filename: name, Content: []byte(content)}
}

// edit returns s with old replaced by new, failing when old is absent so a
// negative case cannot silently test the unbroken file.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("edit: %q not found", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestComposeRulesAcceptTheInlineGoodStack(t *testing.T) {
	dir := stackDir(t)
	p, err := loadCompose(t, dir, true, nil, inline("docker-compose.yml", goodStack))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range baseRules {
		if err := r.fn(p); err != nil {
			t.Errorf("%s: %v", r.name, err)
		}
	}
	p, err = loadCompose(t, dir, true, nil, inline("docker-compose.yml", goodStack), inline("docker-compose.qbo.yml", goodOverride))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range overrideRules {
		if err := r.fn(p); err != nil {
			t.Errorf("override: %s: %v", r.name, err)
		}
	}
}

func TestComposeRulesCatchBrokenStacks(t *testing.T) {
	rules := map[string]func(*types.Project) error{}
	for _, r := range append(slices.Clone(baseRules), overrideRules...) {
		rules[r.name] = r.fn
	}
	// Each case breaks goodStack (or goodOverride) in one way; want is the
	// rule that must report it.
	cases := []struct {
		name     string
		want     string
		stack    func(t *testing.T, s string) string
		override func(t *testing.T, s string) string // non-nil: load with the override
		prepare  func(t *testing.T, dir string)
	}{
		{name: "service missing", want: "services", stack: func(t *testing.T, s string) string {
			return edit(t, s, "  pgadmin:\n    image: dpage/pgadmin4:9\n    networks: [etl-internal]\n    volumes: [\"./deploy/pgadmin/servers.json:/pgadmin4/servers.json:ro\"]\n    ports: [\"127.0.0.1:5050:80\"]\n", "")
		}},
		{name: "service on the default network", want: "network", stack: func(t *testing.T, s string) string {
			return edit(t, s, "    command: [migrate]\n    networks: [etl-internal]\n", "    command: [migrate]\n")
		}},
		{name: "service on a second network", want: "network", stack: func(t *testing.T, s string) string {
			s = edit(t, s, "    command: [sandbox]\n    networks: [etl-internal]\n", "    command: [sandbox]\n    networks: [etl-internal, egress]\n")
			return edit(t, s, "  etl-internal: {}\n", "  etl-internal: {}\n  egress: {}\n")
		}},
		{name: "internal network with a published port", want: "network", stack: func(t *testing.T, s string) string {
			return edit(t, s, "  etl-internal: {}\n", "  etl-internal: {internal: true}\n")
		}},
		{name: "postgres without healthcheck", want: "healthchecks", stack: func(t *testing.T, s string) string {
			return edit(t, s, "    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready -h 127.0.0.1\"]\n", "")
		}},
		{name: "sandbox healthcheck disabled", want: "healthchecks", stack: func(t *testing.T, s string) string {
			return edit(t, s, "      test: [\"CMD\", \"wget\", \"-q\", \"-O\", \"/dev/null\", \"http://127.0.0.1:8089/_sandbox/health\"]\n", "      disable: true\n")
		}},
		{name: "etl starts before migrate completed", want: "depends_on", stack: func(t *testing.T, s string) string {
			return edit(t, s, "migrate: {condition: service_completed_successfully}", "migrate: {condition: service_started}")
		}},
		{name: "etl does not wait for postgres", want: "depends_on", stack: func(t *testing.T, s string) string {
			return edit(t, s, "      postgres: {condition: service_healthy}\n      migrate:", "      migrate:")
		}},
		{name: "migrate restarts", want: "depends_on", stack: func(t *testing.T, s string) string {
			return edit(t, s, "    command: [migrate]\n", "    command: [migrate]\n    restart: unless-stopped\n")
		}},
		{name: "undeclared secret", want: "secrets", stack: func(t *testing.T, s string) string {
			return edit(t, s, "    secrets: [postgres_password]\n", "    secrets: [postgres_password, postgres_user]\n")
		}},
		{name: "secret from the environment", want: "secrets", stack: func(t *testing.T, s string) string {
			return edit(t, s, "postgres_password: {file: ./secrets/postgres_password.txt}", "postgres_password: {environment: PGPASS}")
		}},
		{name: "secret file outside secrets/", want: "secrets", stack: func(t *testing.T, s string) string {
			return edit(t, s, "{file: ./secrets/postgres_password.txt}", "{file: ./postgres_password.txt}")
		}},
		{name: "secret reads the committed template", want: "secrets", stack: func(t *testing.T, s string) string {
			return edit(t, s, "{file: ./secrets/postgres_password.txt}", "{file: ./secrets/postgres_password.txt.example}")
		}},
		{name: "secret file without template", want: "secrets", prepare: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "secrets", "postgres_password.txt.example")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "password literal in the environment", want: "environment", stack: func(t *testing.T, s string) string {
			return edit(t, s, "      POSTGRES_DB: etl\n", "      POSTGRES_DB: etl\n      POSTGRES_PASSWORD: hunter2hunter2\n")
		}},
		{name: "_FILE outside /run/secrets", want: "environment", stack: func(t *testing.T, s string) string {
			return edit(t, s, "      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password\n    secrets: [postgres_password]", "      POSTGRES_PASSWORD_FILE: /tmp/postgres_password\n    secrets: [postgres_password]")
		}},
		{name: "_FILE naming a secret the service does not mount", want: "environment", stack: func(t *testing.T, s string) string {
			return edit(t, s, "      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password\n    secrets: [postgres_password]", "      POSTGRES_PASSWORD_FILE: /run/secrets/other\n    secrets: [postgres_password]")
		}},
		{name: "token URL with credentials", want: "environment", stack: func(t *testing.T, s string) string {
			return edit(t, s, "QBO_TOKEN_URL: http://qbo-sandbox:8089/", "QBO_TOKEN_URL: http://client:sandbox-client-secret@qbo-sandbox:8089/")
		}},
		{name: "secret value under an innocent name", want: "environment", stack: func(t *testing.T, s string) string {
			return edit(t, s, "      QBO_ENV: sandbox\n", "      QBO_ENV: sandbox\n      QBO_CS: sandbox-client-secret\n")
		}},
		{name: "secret value on the command line", want: "environment", stack: func(t *testing.T, s string) string {
			return edit(t, s, "command: [sandbox]", "command: [sandbox, --client-secret, sandbox-client-secret]")
		}},
		{name: "port on all interfaces", want: "ports", stack: func(t *testing.T, s string) string {
			return edit(t, s, `ports: ["127.0.0.1:5050:80"]`, `ports: ["5050:80"]`)
		}},
		{name: "etl runs something else", want: "etl command", stack: func(t *testing.T, s string) string {
			return edit(t, s, "command: [triggers, serve, --dir, /app/triggers]", "command: [run, pipelines/qb_items_backfill.yaml]")
		}},
		{name: "etl evidence not in a volume", want: "volumes", stack: func(t *testing.T, s string) string {
			return edit(t, s, "    volumes: [evidence:/app/evidence]\n", "")
		}},
		{name: "servers.json writable", want: "volumes", stack: func(t *testing.T, s string) string {
			return edit(t, s, "/pgadmin4/servers.json:ro", "/pgadmin4/servers.json")
		}},
		{name: "sandbox runs another image", want: "etl image", stack: func(t *testing.T, s string) string {
			return edit(t, s, "    image: etl:local\n    build: .\n    command: [sandbox]", "    image: other:latest\n    command: [sandbox]")
		}},
		{name: "etl talks to real QBO in the sandbox stack", want: "sandbox endpoints", stack: func(t *testing.T, s string) string {
			return edit(t, s, "      QBO_BASE_URL: http://qbo-sandbox:8089\n", "")
		}},
		{name: "sandbox stack with real credentials", want: "sandbox endpoints", stack: func(t *testing.T, s string) string {
			return edit(t, s, "{source: qbo_sandbox_client_secret, target: qbo_client_secret}", "{source: qbo_client_secret, target: qbo_client_secret}")
		}},
		{name: "override keeps the sandbox", want: "production endpoints", override: func(t *testing.T, s string) string {
			return edit(t, s, "  qbo-sandbox:\n    profiles: [sandbox]\n", "")
		}},
		{name: "override keeps the sandbox URL", want: "production endpoints", override: func(t *testing.T, s string) string {
			return edit(t, s, "      QBO_BASE_URL: !reset null\n", "")
		}},
		{name: "override keeps sandbox credentials", want: "production endpoints", override: func(t *testing.T, s string) string {
			return edit(t, s, "      - qbo_client_secret\n", "      - {source: qbo_sandbox_client_secret, target: qbo_client_secret}\n")
		}},
		{name: "override still waits for the disabled sandbox", want: "depends_on", override: func(t *testing.T, s string) string {
			return edit(t, s, "    depends_on: !override\n", "    depends_on:\n")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule, ok := rules[c.want]
			if !ok {
				t.Fatalf("no rule named %q", c.want)
			}
			dir := stackDir(t)
			if c.prepare != nil {
				c.prepare(t, dir)
			}
			stack := goodStack
			if c.stack != nil {
				stack = c.stack(t, stack)
			}
			files := []types.ConfigFile{inline("docker-compose.yml", stack)}
			if c.override != nil {
				files = append(files, inline("docker-compose.qbo.yml", c.override(t, goodOverride)))
			}
			p, err := loadCompose(t, dir, false, nil, files...)
			if err != nil {
				t.Fatalf("the broken stack must still load so the rule can judge it: %v", err)
			}
			if err := rule(p); err == nil {
				t.Errorf("rule %q accepted a stack where %s", c.want, c.name)
			} else {
				t.Logf("rule %q: %v", c.want, err)
			}
		})
	}
}

func TestPgAdminServersRuleCatchesBrokenFiles(t *testing.T) {
	dir := stackDir(t)
	p, err := loadCompose(t, dir, true, nil, inline("docker-compose.yml", goodStack))
	if err != nil {
		t.Fatal(err)
	}
	good := `{"Servers": {"1": {"Name": "etl", "Group": "etl", "Host": "postgres", "Port": 5432, "MaintenanceDB": "etl", "Username": "etl"}}}`
	if err := checkPgAdminServers([]byte(good), p, "etl"); err != nil {
		t.Fatalf("good servers.json rejected: %v", err)
	}
	for name, broken := range map[string]string{
		"password inline":    `{"Servers": {"1": {"Name": "etl", "Group": "etl", "Host": "postgres", "Port": 5432, "MaintenanceDB": "etl", "Username": "etl", "Password": "x"}}}`,
		"host not a service": `{"Servers": {"1": {"Name": "etl", "Group": "etl", "Host": "localhost", "Port": 5432, "MaintenanceDB": "etl", "Username": "etl"}}}`,
		"port as text":       `{"Servers": {"1": {"Name": "etl", "Group": "etl", "Host": "postgres", "Port": "5432", "MaintenanceDB": "etl", "Username": "etl"}}}`,
		"other database":     `{"Servers": {"1": {"Name": "etl", "Group": "etl", "Host": "postgres", "Port": 5432, "MaintenanceDB": "postgres", "Username": "etl"}}}`,
		"other user":         `{"Servers": {"1": {"Name": "etl", "Group": "etl", "Host": "postgres", "Port": 5432, "MaintenanceDB": "etl", "Username": "admin"}}}`,
		"no group":           `{"Servers": {"1": {"Name": "etl", "Host": "postgres", "Port": 5432, "MaintenanceDB": "etl", "Username": "etl"}}}`,
		"not JSON":           `{"Servers": `,
	} {
		if err := checkPgAdminServers([]byte(broken), p, "etl"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGitignoreRuleCatchesBrokenFile(t *testing.T) {
	if err := checkGitignore("/secrets/*\n!/secrets/*.example\n"); err != nil {
		t.Fatalf("good .gitignore rejected: %v", err)
	}
	for name, broken := range map[string]string{
		"secrets not ignored":   "/bin/\n!/secrets/*.example\n",
		"templates not kept in": "/secrets/*\n",
	} {
		if err := checkGitignore(broken); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// ---------------------------------------------------------------------------
// GitHub workflow

type workflow struct {
	On   yaml.Node      `yaml:"on"`
	Jobs map[string]job `yaml:"jobs"`
}

type job struct {
	Services map[string]struct {
		Image string `yaml:"image"`
	} `yaml:"services"`
	Env   map[string]string `yaml:"env"`
	Steps []step            `yaml:"steps"`
}

type step struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]any    `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

// runsCommand reports whether a step's script has cmd as one of its
// command lines (exactly, or followed by arguments).
func (s step) runsCommand(cmd string) bool {
	for _, line := range strings.Split(s.Run, "\n") {
		line = strings.TrimSpace(line)
		if line == cmd || strings.HasPrefix(line, cmd+" ") {
			return true
		}
	}
	return false
}

func (s step) action() string {
	name, _, _ := strings.Cut(s.Uses, "@")
	return name
}

func events(n yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	case yaml.MappingNode:
		var out []string
		for i := 0; i < len(n.Content); i += 2 {
			out = append(out, n.Content[i].Value)
		}
		return out
	}
	return nil
}

// checkWorkflow: runs on push and pull_request; one job sets up Go 1.26,
// builds, lints the shipped files and runs make test against a postgres:15
// service named by ETL_TEST_DATABASE_URL; one job builds the image without
// pushing it.
func checkWorkflow(data []byte) error {
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		return fmt.Errorf("workflow: %w", err)
	}
	var errs []error
	on := events(wf.On)
	for _, e := range []string{"push", "pull_request"} {
		if !slices.Contains(on, e) {
			errs = append(errs, fmt.Errorf("workflow does not run on %s (on: %v)", e, on))
		}
	}
	var testJob, imageJob bool
	var names []string
	for n := range wf.Jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		j := wf.Jobs[name]
		build, lint, test, goSetup := -1, -1, -1, -1
		for i, s := range j.Steps {
			switch {
			case s.action() == "actions/setup-go":
				v := fmt.Sprint(s.With["go-version"])
				if strings.HasPrefix(v, "1.26") || s.With["go-version-file"] == "go.mod" {
					goSetup = i
				}
			case s.action() == "docker/build-push-action":
				if push := fmt.Sprint(s.With["push"]); push == "false" || push == "<nil>" {
					imageJob = true
				} else {
					errs = append(errs, fmt.Errorf("job %s pushes the image (push: %s)", name, push))
				}
			}
			if s.runsCommand("make build") {
				build = i
			}
			if s.runsCommand("bin/etl lint pipelines triggers") {
				lint = i
			}
			if s.runsCommand("make test") {
				test = i
			}
		}
		if test < 0 {
			continue
		}
		hasPostgres := false
		for _, svc := range j.Services {
			if strings.HasPrefix(svc.Image, "postgres:15") {
				hasPostgres = true
			}
		}
		dbURL := j.Env["ETL_TEST_DATABASE_URL"]
		if v := j.Steps[test].Env["ETL_TEST_DATABASE_URL"]; v != "" {
			dbURL = v
		}
		switch {
		case goSetup < 0 || goSetup > test:
			errs = append(errs, fmt.Errorf("job %s runs make test without setting up Go 1.26 first", name))
		case build < 0 || lint < 0 || build > lint || lint > test:
			errs = append(errs, fmt.Errorf("job %s must run make build, then bin/etl lint pipelines triggers, then make test (steps %d, %d, %d)", name, build, lint, test))
		case !hasPostgres:
			errs = append(errs, fmt.Errorf("job %s runs make test without a postgres:15 service", name))
		case !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://"):
			errs = append(errs, fmt.Errorf("job %s: ETL_TEST_DATABASE_URL = %q, want the service's postgres:// URL", name, dbURL))
		case urlUserPassword.MatchString(dbURL):
			errs = append(errs, fmt.Errorf("job %s: ETL_TEST_DATABASE_URL carries a password", name))
		default:
			testJob = true
		}
	}
	if !testJob {
		errs = append(errs, errors.New("no job runs the build, lint and make test steps with a postgres:15 service"))
	}
	if !imageJob {
		errs = append(errs, errors.New("no job builds the image with docker/build-push-action (push: false)"))
	}
	return errors.Join(errs...)
}

func TestWorkflow(t *testing.T) {
	if err := checkWorkflow(readFile(t, filepath.Join(repoRoot(t), workflowFile))); err != nil {
		t.Error(err)
	}
}

const goodWorkflow = `
on: [push, pull_request]
jobs:
  test:
    services:
      postgres:
        image: postgres:15
    env:
      ETL_TEST_DATABASE_URL: postgres://postgres@localhost:5432/postgres
    steps:
      - uses: actions/checkout@v5
      - uses: actions/setup-go@v6
        with: {go-version: "1.26"}
      - run: make build
      - run: bin/etl lint pipelines triggers
      - run: make test
  docker:
    steps:
      - uses: docker/build-push-action@v6
        with: {context: ., push: false}
`

func TestWorkflowRuleCatchesBrokenFiles(t *testing.T) {
	if err := checkWorkflow([]byte(goodWorkflow)); err != nil {
		t.Fatalf("good workflow rejected: %v", err)
	}
	cases := map[string][2]string{
		"no pull_request trigger": {"on: [push, pull_request]", "on: [push]"},
		"no make test":            {"      - run: make test\n", "      - run: go test ./...\n"},
		"no lint":                 {"      - run: bin/etl lint pipelines triggers\n", ""},
		"lint after test":         {"      - run: bin/etl lint pipelines triggers\n      - run: make test\n", "      - run: make test\n      - run: bin/etl lint pipelines triggers\n"},
		"no postgres service":     {"        image: postgres:15\n", "        image: redis:7\n"},
		"no database URL":         {"      ETL_TEST_DATABASE_URL: postgres://postgres@localhost:5432/postgres\n", "      OTHER: x\n"},
		"password in the URL":     {"postgres://postgres@localhost", "postgres://postgres:pw@localhost"},
		"wrong Go":                {`go-version: "1.26"`, `go-version: "1.22"`},
		"image pushed":            {"push: false", "push: true"},
		"no image build":          {"docker/build-push-action@v6", "actions/upload-artifact@v4"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(goodWorkflow, c[0]) {
				t.Fatalf("edit: %q not found", c[0])
			}
			if err := checkWorkflow([]byte(strings.Replace(goodWorkflow, c[0], c[1], 1))); err == nil {
				t.Errorf("accepted a workflow with %s", name)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Dockerfile
//
// BuildKit's parser (github.com/moby/buildkit/frontend/dockerfile/parser)
// would add a module to go.mod that upgrades shared dependencies of the
// product, for a test of one file this repository writes itself. This
// line-based reader covers the syntax that file may use: parser directives,
// comments, escaped line continuations, JSON and shell forms, FROM ... AS,
// instruction flags. It refuses heredocs rather than misread them.

type instruction struct {
	cmd   string   // upper case
	flags []string // --name=value before the arguments
	args  string   // the rest, continuations joined
	stage int      // index of the FROM stage it belongs to; -1 before any FROM
}

type stage struct {
	name  string
	image string
	instr []instruction
}

type dockerfile struct {
	stages []stage
}

var (
	directive = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(\S+)\s*$`)
	heredoc   = regexp.MustCompile(`<<-?\s*["']?[A-Za-z_][A-Za-z0-9_]*`)
)

func parseDockerfile(src string) (*dockerfile, error) {
	escape := '\\'
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	i := 0
	// Parser directives come first, before any comment, blank line or
	// instruction.
	for ; i < len(lines); i++ {
		m := directive.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			break
		}
		if strings.EqualFold(m[1], "escape") {
			if m[2] != "\\" && m[2] != "`" {
				return nil, fmt.Errorf("line %d: escape must be \\ or `", i+1)
			}
			escape = rune(m[2][0])
		}
	}
	df := &dockerfile{}
	var cur []string
	start := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		text := strings.TrimSpace(strings.Join(cur, " "))
		cur = nil
		cmd, rest, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), stage: len(df.stages) - 1}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			f, r, _ := strings.Cut(rest, " ")
			in.flags = append(in.flags, f)
			rest = strings.TrimSpace(r)
		}
		in.args = rest
		if (in.cmd == "RUN" || in.cmd == "COPY" || in.cmd == "ADD") && heredoc.MatchString(rest) {
			return fmt.Errorf("line %d: heredocs are not supported by this checker", start)
		}
		if in.cmd == "FROM" {
			f := strings.Fields(rest)
			st := stage{}
			switch {
			case len(f) == 1:
				st.image = f[0]
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.image, st.name = f[0], strings.ToLower(f[2])
			default:
				return fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", start, rest)
			}
			df.stages = append(df.stages, st)
			in.stage = len(df.stages) - 1
		} else if in.stage < 0 && in.cmd != "ARG" {
			return fmt.Errorf("line %d: %s before the first FROM", start, in.cmd)
		}
		if in.stage >= 0 {
			df.stages[in.stage].instr = append(df.stages[in.stage].instr, in)
		}
		return nil
	}
	for ; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		// Blank and comment lines are dropped, also inside a continued
		// instruction, as Docker does.
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if len(cur) == 0 {
			start = i + 1
		}
		line := strings.TrimRight(lines[i], " \t")
		if strings.HasSuffix(line, string(escape)) {
			cur = append(cur, strings.TrimSuffix(line, string(escape)))
			continue
		}
		cur = append(cur, line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if len(cur) > 0 {
		return nil, errors.New("the last instruction ends with a line continuation")
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return df, nil
}

// jsonArgs returns the exec (JSON) form of an instruction's arguments.
func jsonArgs(args string) ([]string, bool) {
	if !strings.HasPrefix(args, "[") {
		return nil, false
	}
	var out []string
	if err := json.Unmarshal([]byte(args), &out); err != nil {
		return nil, false
	}
	return out, true
}

// shellWords splits a POSIX shell command line into words, honouring
// quotes and backslashes; the control operators && || ; | are words of
// their own. Variables are kept as written.
func shellWords(s string) ([]string, error) {
	var words []string
	var b strings.Builder
	inWord := false
	end := func() {
		if inWord {
			words = append(words, b.String())
			b.Reset()
			inWord = false
		}
	}
	r := []rune(s)
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '\'':
			j := i + 1
			for j < len(r) && r[j] != '\'' {
				j++
			}
			if j == len(r) {
				return nil, errors.New("unterminated single quote")
			}
			b.WriteString(string(r[i+1 : j]))
			inWord, i = true, j
		case c == '"':
			j := i + 1
			for ; j < len(r) && r[j] != '"'; j++ {
				if r[j] == '\\' && j+1 < len(r) && strings.ContainsRune("\"\\$`", r[j+1]) {
					j++
				}
				b.WriteRune(r[j])
			}
			if j == len(r) {
				return nil, errors.New("unterminated double quote")
			}
			inWord, i = true, j
		case c == '\\' && i+1 < len(r):
			b.WriteRune(r[i+1])
			inWord, i = true, i+1
		case c == ' ' || c == '\t' || c == '\n':
			end()
		case c == '&' || c == '|' || c == ';':
			end()
			op := string(c)
			if i+1 < len(r) && (c == '&' || c == '|') && r[i+1] == c {
				op += string(c)
				i++
			}
			words = append(words, op)
		default:
			b.WriteRune(c)
			inWord = true
		}
	}
	end()
	return words, nil
}

// goBuild is a `go build` command line, split into its parts.
type goBuild struct {
	env    map[string]string // NAME=VALUE words before the command
	flags  []string          // flags except -o and its value, as given
	output string
	pkgs   []string
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// valueFlags are the go build flags that take a value.
var valueFlags = []string{"-ldflags", "-gcflags", "-asmflags", "-tags", "-mod", "-buildmode", "-p", "-pgo", "-overlay", "-toolexec"}

// findGoBuild returns the first `go build` command in a shell script. goCmd
// is how the go command is spelled (go, or the Makefile's expanded $(GO)).
func findGoBuild(script, goCmd string) (*goBuild, error) {
	words, err := shellWords(script)
	if err != nil {
		return nil, err
	}
	var cmd []string
	for _, w := range append(words, ";") {
		if w == "&&" || w == "||" || w == ";" || w == "|" {
			envEnd := 0
			for envEnd < len(cmd) && assignment.MatchString(cmd[envEnd]) {
				envEnd++
			}
			if len(cmd) > envEnd+1 && cmd[envEnd] == goCmd && cmd[envEnd+1] == "build" {
				gb := &goBuild{env: map[string]string{}}
				for _, a := range cmd[:envEnd] {
					k, v, _ := strings.Cut(a, "=")
					gb.env[k] = v
				}
				rest := cmd[envEnd+2:]
				for i := 0; i < len(rest); i++ {
					a := rest[i]
					switch {
					case a == "-o" && i+1 < len(rest):
						gb.output = rest[i+1]
						i++
					case strings.HasPrefix(a, "-o="):
						gb.output = strings.TrimPrefix(a, "-o=")
					case strings.HasPrefix(a, "-"):
						// Flags with a value are kept as two words whether
						// written -ldflags=X or -ldflags X, so both compare equal.
						name, value, hasValue := strings.Cut(a, "=")
						gb.flags = append(gb.flags, name)
						switch {
						case !slices.Contains(valueFlags, name):
							if hasValue {
								gb.flags[len(gb.flags)-1] = a
							}
						case hasValue:
							gb.flags = append(gb.flags, value)
						case i+1 < len(rest):
							gb.flags = append(gb.flags, rest[i+1])
							i++
						}
					default:
						gb.pkgs = append(gb.pkgs, a)
					}
				}
				return gb, nil
			}
			cmd = nil
			continue
		}
		cmd = append(cmd, w)
	}
	return nil, errors.New("no go build command")
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// normalizeVars writes every variable reference ($(X), ${X}, $X) as ${X},
// so a Makefile and a shell command that use the same variable compare equal.
func normalizeVars(s string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		sm := varRef.FindStringSubmatch(m)
		return "${" + sm[1] + sm[2] + sm[3] + "}"
	})
}

// makefileBuild returns the `go build` of the Makefile's build target, with
// the Makefile's own variables expanded except those computed by $(shell)
// (such as VERSION), which stay references.
func makefileBuild(src string) (*goBuild, error) {
	vars := map[string]string{}
	assign := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)\s*(.*)$`)
	var recipe []string
	inBuild := false
	sc := bufio.NewScanner(strings.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "\t"):
			if inBuild {
				// @, - and + are make's line prefixes, not part of the command.
				recipe = append(recipe, strings.TrimLeft(strings.TrimSpace(line), "@-+"))
			}
			continue
		case strings.HasPrefix(line, "build:"):
			inBuild = true
			continue
		}
		inBuild = false
		if m := assign.FindStringSubmatch(line); m != nil {
			vars[m[1]] = strings.TrimSpace(m[2])
		}
	}
	if len(recipe) == 0 {
		return nil, errors.New("Makefile: no recipe for target build")
	}
	var expand func(s string, depth int) string
	expand = func(s string, depth int) string {
		if depth > 10 {
			return s
		}
		return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := vars[name]
			if !ok || strings.HasPrefix(v, "$(shell") {
				return m
			}
			return expand(v, depth+1)
		})
	}
	script := expand(strings.Join(recipe, "\n"), 0)
	return findGoBuild(script, expand("$(GO)", 0))
}

// checkDockerfile: a build stage and a final stage; the final stage runs as
// a non-root user from /app with the shipped files and ENTRYPOINT etl, and
// its binary is built with the same command as `make build`.
func checkDockerfile(src, makefile string) error {
	df, err := parseDockerfile(src)
	if err != nil {
		return err
	}
	var errs []error
	if len(df.stages) < 2 {
		return fmt.Errorf("%d stage(s), want a multi-stage build", len(df.stages))
	}
	final := df.stages[len(df.stages)-1]

	// Non-root user: the last USER of the final stage.
	user := ""
	for _, in := range final.instr {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		errs = append(errs, fmt.Errorf("final stage user = %q, want a non-root USER", user))
	}

	// ENTRYPOINT ["etl"] in exec form, so signals reach etl itself.
	var entry []string
	entryOK := false
	for _, in := range final.instr {
		if in.cmd == "ENTRYPOINT" {
			entry, entryOK = jsonArgs(in.args)
		}
	}
	if !entryOK || len(entry) == 0 || (entry[0] != "etl" && !strings.HasSuffix(entry[0], "/etl")) {
		errs = append(errs, fmt.Errorf("final stage ENTRYPOINT = %q, want the exec form [\"etl\"]", entry))
	}

	// WORKDIR /app with pipelines, triggers and schemas in it.
	workdir := ""
	copied := map[string]bool{}
	binaryFrom := ""
	for _, in := range final.instr {
		switch in.cmd {
		case "WORKDIR":
			workdir = in.args
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) < 2 {
				continue
			}
			from := ""
			for _, fl := range in.flags {
				if v, ok := strings.CutPrefix(fl, "--from="); ok {
					from = strings.ToLower(v)
				}
			}
			for _, src := range f[:len(f)-1] {
				if from == "" {
					copied[strings.TrimSuffix(strings.TrimPrefix(src, "./"), "/")] = true
				} else if src == "/out/etl" {
					binaryFrom = from
				}
			}
		}
	}
	if workdir != "/app" {
		errs = append(errs, fmt.Errorf("final stage WORKDIR = %q, want /app", workdir))
	}
	for _, d := range []string{"pipelines", "triggers", "schemas"} {
		if !copied[d] {
			errs = append(errs, fmt.Errorf("final stage does not copy %s/", d))
		}
	}

	// The build command of the stage the binary comes from.
	var build *goBuild
	for i := range df.stages[:len(df.stages)-1] {
		st := &df.stages[i]
		if binaryFrom != "" && st.name != binaryFrom && fmt.Sprint(i) != binaryFrom {
			continue
		}
		stageEnv := map[string]string{}
		for _, in := range st.instr {
			if in.cmd == "ENV" {
				for _, w := range strings.Fields(in.args) {
					if k, v, ok := strings.Cut(w, "="); ok {
						stageEnv[k] = strings.Trim(v, `"'`)
					}
				}
			}
			if in.cmd == "RUN" && build == nil {
				script := in.args
				if words, ok := jsonArgs(script); ok {
					script = strings.Join(words, " ")
				}
				if gb, err := findGoBuild(script, "go"); err == nil {
					for k, v := range stageEnv {
						if _, set := gb.env[k]; !set {
							gb.env[k] = v
						}
					}
					build = gb
				}
			}
		}
	}
	switch {
	case binaryFrom == "":
		errs = append(errs, errors.New("final stage does not COPY --from=<build stage> /out/etl"))
	case build == nil:
		errs = append(errs, fmt.Errorf("stage %q that /out/etl comes from runs no go build", binaryFrom))
	default:
		mk, err := makefileBuild(makefile)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if build.env["CGO_ENABLED"] != "0" {
			errs = append(errs, fmt.Errorf("Dockerfile go build: CGO_ENABLED = %q, want 0", build.env["CGO_ENABLED"]))
		}
		if mk.env["CGO_ENABLED"] != build.env["CGO_ENABLED"] {
			errs = append(errs, fmt.Errorf("CGO_ENABLED: Makefile %q, Dockerfile %q", mk.env["CGO_ENABLED"], build.env["CGO_ENABLED"]))
		}
		dFlags, mFlags := normalizeFlags(build.flags), normalizeFlags(mk.flags)
		if !slices.Equal(dFlags, mFlags) {
			errs = append(errs, fmt.Errorf("go build flags: Makefile %q, Dockerfile %q", mFlags, dFlags))
		}
		if !slices.Contains(dFlags, "-trimpath") || !slices.Contains(dFlags, "-ldflags") {
			errs = append(errs, fmt.Errorf("go build flags %q, want -trimpath and -ldflags", dFlags))
		}
		if !slices.Equal(build.pkgs, mk.pkgs) {
			errs = append(errs, fmt.Errorf("go build packages: Makefile %q, Dockerfile %q", mk.pkgs, build.pkgs))
		}
		if build.output != "/out/etl" {
			errs = append(errs, fmt.Errorf("go build output %q, want /out/etl", build.output))
		}
	}
	return errors.Join(errs...)
}

func normalizeFlags(flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = strings.Join(strings.Fields(normalizeVars(f)), " ")
	}
	return out
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	if err := checkDockerfile(string(readFile(t, filepath.Join(root, "Dockerfile"))), string(readFile(t, filepath.Join(root, "Makefile")))); err != nil {
		t.Error(err)
	}
}

const goodMakefile = "GO ?= go\nBIN ?= bin/etl\nVERSION ?= $(shell git describe --always)\nLDFLAGS := -s -w -X main.version=$(VERSION)\n\nbuild:\n\tCGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/etl\n"

const goodDockerfile = `# syntax=docker/dockerfile:1
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY . .
ARG VERSION=devel
# a comment
RUN --mount=type=cache,target=/go/pkg/mod \
    # a comment inside the continuation
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/etl ./cmd/etl
FROM alpine:3.22
COPY --from=build /out/etl /usr/local/bin/etl
WORKDIR /app
COPY pipelines/ /app/pipelines/
COPY schemas/ /app/schemas/
COPY --chown=65532:65532 triggers/ /app/triggers/
USER 65532:65532
ENTRYPOINT ["etl"]
`

func TestDockerfileRuleCatchesBrokenFiles(t *testing.T) {
	if err := checkDockerfile(goodDockerfile, goodMakefile); err != nil {
		t.Fatalf("good Dockerfile rejected: %v", err)
	}
	// ENV in the stage instead of inline is as good.
	envForm := strings.Replace(goodDockerfile, "    CGO_ENABLED=0 go build", "    go build", 1)
	envForm = strings.Replace(envForm, "WORKDIR /src\n", "WORKDIR /src\nENV CGO_ENABLED=0\n", 1)
	if err := checkDockerfile(envForm, goodMakefile); err != nil {
		t.Errorf("CGO_ENABLED=0 from ENV rejected: %v", err)
	}
	eqForm := strings.Replace(goodDockerfile, `-ldflags "-s`, `-ldflags="-s`, 1)
	if err := checkDockerfile(eqForm, goodMakefile); err != nil {
		t.Errorf("-ldflags=VALUE rejected: %v", err)
	}
	cases := map[string]struct {
		dockerfile [2]string
		makefile   [2]string
	}{
		"single stage":             {dockerfile: [2]string{"FROM alpine:3.22\nCOPY --from=build /out/etl /usr/local/bin/etl\n", "COPY --from=build /out/etl /usr/local/bin/etl\n"}},
		"runs as root":             {dockerfile: [2]string{"USER 65532:65532\n", "USER root\n"}},
		"no USER":                  {dockerfile: [2]string{"USER 65532:65532\n", ""}},
		"user 0":                   {dockerfile: [2]string{"USER 65532:65532\n", "USER 0:0\n"}},
		"entrypoint in shell form": {dockerfile: [2]string{`ENTRYPOINT ["etl"]`, "ENTRYPOINT etl"}},
		"entrypoint is a shell":    {dockerfile: [2]string{`ENTRYPOINT ["etl"]`, `ENTRYPOINT ["/bin/sh"]`}},
		"CGO on":                   {dockerfile: [2]string{"CGO_ENABLED=0 go build", "CGO_ENABLED=1 go build"}},
		"CGO unset":                {dockerfile: [2]string{"CGO_ENABLED=0 go build", "go build"}},
		"no -trimpath":             {dockerfile: [2]string{"go build -trimpath \\", "go build \\"}},
		"other ldflags":            {dockerfile: [2]string{`-ldflags "-s -w -X main.version=${VERSION}"`, `-ldflags "-X main.version=${VERSION}"`}},
		"Makefile gained a flag":   {makefile: [2]string{"build -trimpath", "build -trimpath -tags netgo"}},
		"other package":            {dockerfile: [2]string{"-o /out/etl ./cmd/etl", "-o /out/etl ./cmd/other"}},
		"binary elsewhere":         {dockerfile: [2]string{"-o /out/etl ./cmd/etl", "-o /tmp/etl ./cmd/etl"}},
		"binary not from build":    {dockerfile: [2]string{"COPY --from=build /out/etl", "COPY --from=golang:1.26 /out/etl"}},
		"wrong workdir":            {dockerfile: [2]string{"WORKDIR /app\n", "WORKDIR /srv\n"}},
		"triggers not shipped":     {dockerfile: [2]string{"COPY --chown=65532:65532 triggers/ /app/triggers/\n", ""}},
		"heredoc":                  {dockerfile: [2]string{"WORKDIR /app\n", "WORKDIR /app\nRUN <<EOF\necho hi\nEOF\n"}},
		// A checker that ignored continuations would accept this one.
		"continuation swallows the next line": {dockerfile: [2]string{"WORKDIR /app\n", "WORKDIR /app \\\n"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d, m := goodDockerfile, goodMakefile
			if c.dockerfile[0] != "" {
				d = edit(t, d, c.dockerfile[0], c.dockerfile[1])
			}
			if c.makefile[0] != "" {
				m = edit(t, m, c.makefile[0], c.makefile[1])
			}
			if err := checkDockerfile(d, m); err == nil {
				t.Errorf("accepted a Dockerfile with %s", name)
			} else {
				t.Logf("%v", err)
			}
		})
	}
}

func TestShellWords(t *testing.T) {
	got, err := shellWords(`A=1 go build -ldflags '-s -w' -o "/out/x y" a\ b && echo "q\"x"; b|c`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "go", "build", "-ldflags", "-s -w", "-o", "/out/x y", "a b", "&&", "echo", `q"x`, ";", "b", "|", "c"}
	if !slices.Equal(got, want) {
		t.Errorf("shellWords = %q, want %q", got, want)
	}
}

// ---------------------------------------------------------------------------
// .dockerignore

// checkDockerignore: secrets, evidence and .git stay out of the build
// context; what the build needs stays in.
func checkDockerignore(text string) error {
	var patterns []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "!") {
			continue
		}
		patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/"))
	}
	excluded := func(path string) bool {
		for _, p := range patterns {
			if ok, _ := filepath.Match(p, path); ok {
				return true
			}
		}
		return false
	}
	var errs []error
	for _, p := range []string{"secrets", "evidence", ".git", ".env"} {
		if !excluded(p) {
			errs = append(errs, fmt.Errorf(".dockerignore does not exclude %s", p))
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd", "engine", "connectors", "internal", "migrations", "pipelines", "triggers", "schemas"} {
		if excluded(p) {
			errs = append(errs, fmt.Errorf(".dockerignore excludes %s, which the image build needs", p))
		}
	}
	return errors.Join(errs...)
}

func TestDockerignore(t *testing.T) {
	if err := checkDockerignore(string(readFile(t, filepath.Join(repoRoot(t), ".dockerignore")))); err != nil {
		t.Error(err)
	}
}

func TestDockerignoreRuleCatchesBrokenFiles(t *testing.T) {
	good := "secrets\nevidence\n.git\n.env\n"
	if err := checkDockerignore(good); err != nil {
		t.Fatalf("good .dockerignore rejected: %v", err)
	}
	for name, broken := range map[string]string{
		"secrets sent to the builder": "evidence\n.git\n.env\n",
		"pipelines left out":          good + "pipelines\n",
		"everything left out":         good + "*\n",
	} {
		if err := checkDockerignore(broken); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
