package pgcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// serverUser is the operating-system account the server runs as when this
// process is root: PostgreSQL refuses to run as root.
const serverUser = "postgres"

// runner starts server programs as the right operating-system user.
type runner struct {
	// prefix is prepended to every command: runuser when we are root.
	prefix []string
	// uid and gid own the cluster's files; -1 when no change is needed.
	uid, gid int
}

// newRunner decides how to run the server programs: as serverUser through
// runuser when the effective user is root, as the current user otherwise.
func newRunner() (runner, error) {
	if os.Geteuid() != 0 {
		return runner{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return runner{}, fmt.Errorf("running as root needs an operating-system user %q to run the server (PostgreSQL refuses root): %w", serverUser, err)
	}
	ru, err := exec.LookPath("runuser")
	if err != nil {
		return runner{}, fmt.Errorf("running as root needs runuser (util-linux) to start the server as %q: %w", serverUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return runner{prefix: []string{ru, "-u", serverUser, "--"}, uid: uid, gid: gid}, nil
}

// command builds the command that runs prog with args as the server user.
func (r runner) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), r.prefix...), prog), args...)
	if ctx == nil {
		return exec.Command(argv[0], argv[1:]...)
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// run runs prog to completion and returns its combined output in the error.
func (r runner) run(ctx context.Context, prog string, args ...string) error {
	cmd := r.command(ctx, prog, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// A clean environment: PG* variables of the caller must not leak into
	// initdb or pg_ctl.
	cmd.Env = cleanEnv()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", prog, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// chown gives path to the server user (no-op unless we are root).
func (r runner) chown(paths ...string) error {
	if r.uid < 0 {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, r.uid, r.gid); err != nil {
			return fmt.Errorf("giving %s to user %s: %w", p, serverUser, err)
		}
	}
	return nil
}

// cleanEnv is the environment of server programs: the caller's, minus
// libpq variables, with a C locale.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C", "LC_ALL=C")
}
