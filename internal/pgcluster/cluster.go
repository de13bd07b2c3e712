// Package pgcluster starts and stops a throwaway PostgreSQL cluster from the
// locally installed server binaries. Tests use it (through pgtest), and so
// does the etl demo command.
//
// The cluster listens on 127.0.0.1 and on a unix socket inside its folder.
// Local (socket) connections are trusted; TCP connections need the superuser
// password (scram-sha-256). When this process is root, the server runs as the
// operating-system user postgres through runuser, since PostgreSQL refuses
// to run as root.
//
// Durability settings are left at their defaults (fsync and
// synchronous_commit on), so that restart tests mean something. The only
// speed-up is initdb --no-sync: the freshly created files are not flushed to
// disk, which only matters if the machine crashes in the second after
// creation. The server is a child of this process and receives SIGTERM when
// this process dies, so a crashed test run does not leave it running.
package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// SuperUser is the name of the cluster's superuser role.
const SuperUser = "postgres"

// Options configure Start.
type Options struct {
	// Dir holds the cluster (data, socket, log). Empty means a new temporary
	// folder, removed by Stop. A Dir that already holds a cluster created by
	// Start is reused; then Password must be the one it was created with.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Password of the superuser; empty means a random one.
	Password string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Settings are extra server settings (name = value), e.g.
	// {"log_min_duration_statement": "0"}.
	Settings map[string]string
	// BinDir holds initdb, pg_ctl and postgres; empty means FindBinaries.
	BinDir string
	// StartTimeout bounds how long Start and Restart wait for the server to
	// accept connections; 0 means 60 s.
	StartTimeout time.Duration
}

// Cluster is a running throwaway cluster.
type Cluster struct {
	bins     Binaries
	run      runner
	log      *slog.Logger
	dir      string
	tempDir  bool
	dataDir  string
	sockDir  string
	tempSock bool
	logFile  string
	port     int
	password string
	timeout  time.Duration

	mu   sync.Mutex
	proc *server
}

// server is one run of the postmaster.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
}

// Start creates (or reuses) a cluster in opts.Dir and starts it. It returns
// an error wrapping ErrNotInstalled when the server binaries are missing.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bins, err := binaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	run, err := newRunner()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		bins:     bins,
		run:      run,
		log:      opts.Logger,
		password: opts.Password,
		port:     opts.Port,
		timeout:  opts.StartTimeout,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.timeout <= 0 {
		c.timeout = 60 * time.Second
	}
	if c.password == "" {
		c.password = randomHex(16)
	}
	if err := c.prepareDirs(opts.Dir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.removeDirs()
		}
	}()
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	// A port picked here may be taken by someone else before the server binds
	// it; try a few.
	for attempt := 1; ; attempt++ {
		port := c.port
		if opts.Port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		c.port = port
		if err := c.writeConfig(opts.Settings); err != nil {
			return nil, err
		}
		err = c.start(ctx)
		if err == nil {
			break
		}
		if opts.Port != 0 || attempt == 3 || !strings.Contains(err.Error(), "could not bind") {
			return nil, err
		}
	}
	ok = true
	c.log.Info("postgres cluster started", "dir", c.dir, "port", c.port, "bin", c.bins.Dir)
	return c, nil
}

// Host is the TCP address the server listens on.
func (c *Cluster) Host() string { return "127.0.0.1" }

// Port is the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// SuperUser is the superuser role name.
func (c *Cluster) SuperUser() string { return SuperUser }

// Password is the superuser's password.
func (c *Cluster) Password() string { return c.password }

// SocketDir is the folder of the server's unix socket.
func (c *Cluster) SocketDir() string { return c.sockDir }

// DataDir is the cluster's data folder.
func (c *Cluster) DataDir() string { return c.dataDir }

// LogFile is the server's log.
func (c *Cluster) LogFile() string { return c.logFile }

// Stop shuts the server down (fast mode: open sessions are disconnected) and
// removes the cluster's folder when Start created it. Stopping a stopped
// cluster does nothing.
func (c *Cluster) Stop(ctx context.Context) error {
	err := c.stop(ctx, "fast")
	c.removeDirs()
	if err != nil {
		return err
	}
	c.log.Info("postgres cluster stopped", "dir", c.dir)
	return nil
}

// Restart stops and starts the server on the same port. With immediate, the
// server stops without a shutdown checkpoint, as in a crash, and recovers
// from its write-ahead log when it starts.
func (c *Cluster) Restart(ctx context.Context, immediate bool) error {
	mode := "fast"
	if immediate {
		mode = "immediate"
	}
	if err := c.stop(ctx, mode); err != nil {
		return err
	}
	if err := c.start(ctx); err != nil {
		return err
	}
	c.log.Info("postgres cluster restarted", "mode", mode, "port", c.port)
	return nil
}

func (c *Cluster) prepareDirs(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "etl-pg-")
		if err != nil {
			return fmt.Errorf("creating cluster folder: %w", err)
		}
		dir, c.tempDir = d, true
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("cluster folder %s: %w", dir, err)
	}
	c.dir = abs
	c.dataDir = filepath.Join(abs, "data")
	c.sockDir = filepath.Join(abs, "sock")
	c.logFile = filepath.Join(abs, "postgres.log")
	// A unix socket path is limited to 107 bytes; fall back to a short
	// folder when Dir is deep.
	if len(c.sockDir)+len("/.s.PGSQL.65535") > 100 {
		d, err := os.MkdirTemp("/tmp", "etl-pgsock-")
		if err != nil {
			return fmt.Errorf("creating socket folder: %w", err)
		}
		c.sockDir, c.tempSock = d, true
	}
	for _, d := range []string{c.dir, c.dataDir, c.sockDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("cluster folder %s: %w", d, err)
		}
	}
	return c.run.chown(c.dir, c.dataDir, c.sockDir)
}

func (c *Cluster) removeDirs() {
	if c.tempSock {
		_ = os.RemoveAll(c.sockDir)
	}
	if c.tempDir {
		_ = os.RemoveAll(c.dir)
	}
}

// initdb creates the cluster. The password goes through a file readable by
// the server user only, removed right after.
func (c *Cluster) initdb(ctx context.Context) error {
	pwfile := filepath.Join(c.dir, ".pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing password file: %w", err)
	}
	defer os.Remove(pwfile)
	if err := c.run.chown(pwfile); err != nil {
		return err
	}
	err := c.run.run(ctx, c.bins.Initdb,
		"-D", c.dataDir,
		"-U", SuperUser,
		"--pwfile="+pwfile,
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		"-E", "UTF8",
		"--no-locale",
		"--no-sync",
		"--no-instructions",
	)
	if err != nil {
		return fmt.Errorf("creating cluster in %s: %w", c.dataDir, err)
	}
	return nil
}

// configFile is included from postgresql.conf and rewritten at each Start.
const configFile = "etl_cluster.conf"

func (c *Cluster) writeConfig(extra map[string]string) error {
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    fmt.Sprint(c.port),
		"unix_socket_directories": c.sockDir,
		// Each test database gets its own pool; leave room for many.
		"max_connections":     "300",
		"password_encryption": "scram-sha-256",
		"logging_collector":   "off",
		"log_line_prefix":     "%m [%p] %q%a ",
	}
	maps.Copy(settings, extra)
	var b bytes.Buffer
	b.WriteString("# Written by internal/pgcluster at each start.\n")
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(settings[k], "'", "''"))
	}
	path := filepath.Join(c.dataDir, configFile)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := c.run.chown(path); err != nil {
		return err
	}
	main := filepath.Join(c.dataDir, "postgresql.conf")
	conf, err := os.ReadFile(main)
	if err != nil {
		return fmt.Errorf("reading %s: %w", main, err)
	}
	include := "include_if_exists = '" + configFile + "'"
	if !bytes.Contains(conf, []byte(include)) {
		f, err := os.OpenFile(main, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", main, err)
		}
		_, err = fmt.Fprintf(f, "\n%s\n", include)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", main, err)
		}
	}
	return nil
}

// start runs the postmaster as a child process and waits until it accepts
// connections.
func (c *Cluster) start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return fmt.Errorf("postgres cluster in %s is already running", c.dir)
	}
	logf, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("opening server log: %w", err)
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	cmd := c.run.command(nil, c.bins.Postgres, "-D", c.dataDir)
	cmd.Env = cleanEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a terminal's Ctrl-C reaches this process, which
		// stops the server in order, not the server directly.
		Setpgid: true,
		// If this process dies, the server (or runuser, which forwards the
		// signal) receives SIGTERM and shuts down.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.bins.Postgres, err)
	}
	srv := &server{cmd: cmd, exited: make(chan struct{})}
	go func() {
		srv.err = cmd.Wait()
		close(srv.exited)
	}()

	wait, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for {
		err := c.ping(wait)
		if err == nil {
			c.proc = srv
			return nil
		}
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "28P01" {
			_ = c.signalStop(context.Background(), srv, "fast")
			return fmt.Errorf("postgres cluster in %s refused the password: a reused cluster keeps the password it was created with: %w", c.dir, err)
		}
		select {
		case <-srv.exited:
			return fmt.Errorf("postgres server exited during start-up (port %d): %v: %s", c.port, srv.err, c.logTail(offset))
		case <-wait.Done():
			_ = c.signalStop(context.Background(), srv, "immediate")
			return fmt.Errorf("postgres server did not accept connections within %s: %w: %s", c.timeout, context.Cause(wait), c.logTail(offset))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop shuts the server down in the given mode (fast or immediate) and
// waits for the child process to exit.
func (c *Cluster) stop(ctx context.Context, mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return nil
	}
	if err := c.signalStop(ctx, c.proc, mode); err != nil {
		return err
	}
	c.proc = nil
	return nil
}

// signalStop stops srv with pg_ctl, or kills its process group when pg_ctl
// fails, and waits for it to exit.
func (c *Cluster) signalStop(ctx context.Context, srv *server, mode string) error {
	select {
	case <-srv.exited:
		return nil
	default:
	}
	if err := c.run.run(ctx, c.bins.PgCtl, "stop", "-D", c.dataDir, "-m", mode, "-w", "-t", "60"); err != nil {
		c.log.Warn("pg_ctl stop failed; killing the server", "err", err)
		_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-srv.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the postgres server to exit: %w", context.Cause(ctx))
	}
}

// logTail returns the server log written since offset (at most 2 KB).
func (c *Cluster) logTail(offset int64) string {
	b, err := os.ReadFile(c.logFile)
	if err != nil || int64(len(b)) < offset {
		return "(no server log)"
	}
	b = b[offset:]
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(server log is empty)"
	}
	return "server log: " + s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
