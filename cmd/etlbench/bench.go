package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/internal/pgcluster"
)

// database is the database every case loads into; it is dropped and
// created again before each fresh case.
const database = "etl"

// targetTable is the raw table of the invoice pipeline.
const targetTable = "raw.qb_invoices"

// bench holds what the cases share: the cluster and the work folder.
type bench struct {
	out     io.Writer
	o       options
	work    string
	tempDir bool
	cl      *pgcluster.Cluster
	// self is this executable, the measuring parent of each etl run.
	self string
}

// newBench checks the etl binary and the pipeline, and starts the cluster.
func newBench(ctx context.Context, out io.Writer, o options) (*bench, error) {
	for _, p := range []string{o.etl, o.pipeline} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w (run etlbench from the repository root after make build)", err)
		}
	}
	etl, err := filepath.Abs(o.etl)
	if err != nil {
		return nil, fmt.Errorf("locating the etl binary: %w", err)
	}
	o.etl = etl
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating etlbench: %w", err)
	}
	b := &bench{out: out, o: o, work: o.dir, self: self}
	if b.work == "" {
		if b.work, err = os.MkdirTemp("", "etlbench-"); err != nil {
			return nil, fmt.Errorf("creating the work folder: %w", err)
		}
		b.tempDir = true
		// The cluster runs as another user when etlbench runs as root: it
		// must be able to reach its folder inside.
		if err := os.Chmod(b.work, 0o755); err != nil {
			b.removeWork()
			return nil, fmt.Errorf("creating the work folder: %w", err)
		}
	} else if err := os.MkdirAll(b.work, 0o755); err != nil {
		return nil, fmt.Errorf("creating the work folder: %w", err)
	}
	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			return nil, fmt.Errorf("creating the profile folder: %w", err)
		}
	}
	// Default server settings (as in perf.md), so the figures describe a
	// stock PostgreSQL.
	// A new cluster each time: one left by an earlier --keep run would
	// carry its data and another password.
	pgDir := filepath.Join(b.work, "pg")
	if err := os.RemoveAll(pgDir); err != nil {
		return nil, fmt.Errorf("removing the previous cluster: %w", err)
	}
	b.cl, err = pgcluster.Start(ctx, pgcluster.Options{Dir: pgDir})
	if err != nil {
		b.removeWork()
		return nil, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	return b, nil
}

// close stops the cluster and removes the work folder unless --keep.
func (b *bench) close(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := b.cl.Stop(sctx)
	if err != nil {
		err = fmt.Errorf("stopping PostgreSQL: %w", err)
	}
	if b.o.keep {
		fmt.Fprintf(b.out, "work folder kept: %s\n", b.work)
	} else {
		b.removeWork()
	}
	return err
}

func (b *bench) removeWork() {
	if b.tempDir && !b.o.keep {
		_ = os.RemoveAll(b.work)
	}
}

// connect opens a superuser connection to db.
func (b *bench) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := b.cl.ConnConfig(db)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = "etlbench"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to database %s: %w", db, err)
	}
	return conn, nil
}

// printFacts prints what the figures depend on.
func (b *bench) printFacts(ctx context.Context) error {
	conn, err := b.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var version, sharedBuffers, syncCommit, maxWAL string
	var lz4 bool
	err = conn.QueryRow(ctx, `
		SELECT current_setting('server_version'), current_setting('shared_buffers'),
		       current_setting('synchronous_commit'), current_setting('max_wal_size'),
		       EXISTS (SELECT 1 FROM pg_settings
		               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).
		Scan(&version, &sharedBuffers, &syncCommit, &maxWAL, &lz4)
	if err != nil {
		return fmt.Errorf("reading the server's settings: %w", err)
	}
	etlVersion, _ := exec.CommandContext(ctx, b.o.etl, "version").Output()
	fmt.Fprintf(b.out, "machine: %d CPUs (%s), %s RAM, kernel %s\n", cpuCount(), cpuModel(), memTotal(), kernel())
	fmt.Fprintf(b.out, "PostgreSQL %s on 127.0.0.1:%d: lz4 available %t; shared_buffers %s, max_wal_size %s, synchronous_commit %s (defaults)\n",
		version, b.cl.Port(), lz4, sharedBuffers, maxWAL, syncCommit)
	fmt.Fprintf(b.out, "etl: %s (%s)\n", strings.TrimSpace(string(etlVersion)), b.o.etl)
	fmt.Fprintf(b.out, "sizes: %d invoices (fresh, ceiling, re-run), %d invoices (small); work folder %s\n",
		b.o.invoices, b.o.small, b.work)
	return nil
}

// prepare creates an empty database and starts a sandbox serving n
// invoices.
func (b *bench) prepare(ctx context.Context, n int) (*sandboxProc, error) {
	if err := b.cl.DropDatabase(ctx, database); err != nil {
		return nil, err
	}
	if err := b.cl.CreateDatabase(ctx, database); err != nil {
		return nil, err
	}
	return startSandbox(ctx, b.o.etl, filepath.Join(b.work, fmt.Sprintf("sandbox-%d.log", n)),
		sandboxOptions{seed: b.o.seed, customers: b.o.customers, items: b.o.items, invoices: n})
}

// settle makes the next timed case start from a quiet server: table's
// statistics and visibility map up to date (as autovacuum would leave them
// some time after a load), and no dirty buffers left to flush.
func (b *bench) settle(ctx context.Context, table string) error {
	conn, err := b.connect(ctx, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if table != "" {
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
			return fmt.Errorf("vacuuming %s: %w", table, err)
		}
	}
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// etlRun runs the invoice back-fill as a child process and measures it.
// rerun adds --fresh, so that a new run goes over rows already loaded.
func (b *bench) etlRun(ctx context.Context, name string, sb *sandboxProc, n int, rerun bool) (result, error) {
	if !rerun {
		if err := b.settle(ctx, ""); err != nil {
			return result{}, err
		}
	}
	args := []string{"run", b.o.pipeline,
		"--param", "fecha_inicio=2019-01-01T00:00:00Z", "--param", "fecha_fin=2026-01-01T00:00:00Z",
		"--requests-per-minute", "1000000", "--progress", "none", "--log-level", "warn",
		"--evidence-dir", filepath.Join(b.work, "evidence")}
	if rerun {
		args = append(args, "--fresh")
	}
	if b.o.cpuProfile != "" {
		args = append(args, "--cpuprofile", filepath.Join(b.o.cpuProfile, name+".pprof"))
	}
	logPath := filepath.Join(b.work, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return result{}, fmt.Errorf("creating %s: %w", logPath, err)
	}
	defer logFile.Close()
	usagePath := filepath.Join(b.work, name+".usage.json")
	cmd := exec.CommandContext(ctx, b.self, append([]string{measureVerb, usagePath, b.o.etl}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Env = append(filteredEnv(),
		"QBO_ENV=sandbox",
		"QBO_BASE_URL=http://"+sb.addr,
		"QBO_TOKEN_URL=http://"+sb.addr+"/oauth2/v1/tokens/bearer",
		"QBO_REALM_ID="+sb.realm,
		"QBO_CLIENT_ID="+sb.clientID,
		"QBO_CLIENT_SECRET="+sb.clientSecret,
		"QBO_REFRESH_TOKEN="+sb.refreshToken,
		"POSTGRES_HOST="+b.cl.Host(),
		"POSTGRES_PORT="+strconv.Itoa(b.cl.Port()),
		"POSTGRES_DB="+database,
		"POSTGRES_USER="+b.cl.SuperUser(),
		"POSTGRES_PASSWORD="+b.cl.Password(),
		"POSTGRES_SSLMODE=disable",
	)
	pgBefore, err := b.pgCPU()
	if err != nil {
		return result{}, err
	}
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("etl run (%s) failed: %w; last lines of %s:\n%s", name, err, logPath, tail(logPath, 20))
	}
	raw, err := os.ReadFile(usagePath)
	if err != nil {
		return result{}, fmt.Errorf("reading the etl run's usage: %w", err)
	}
	var u usage
	if err := json.Unmarshal(raw, &u); err != nil {
		return result{}, fmt.Errorf("reading the etl run's usage %s: %w", usagePath, err)
	}
	if err := b.waitSessions(ctx); err != nil {
		return result{}, err
	}
	pgAfter, err := b.pgCPU()
	if err != nil {
		return result{}, err
	}
	rows, err := b.count(ctx, targetTable)
	if err != nil {
		return result{}, err
	}
	if rows != int64(n) {
		return result{}, fmt.Errorf("etl run (%s): %s holds %d rows, want %d", name, targetTable, rows, n)
	}
	return result{
		name: name, rows: rows, wall: time.Duration(u.WallNS), isETL: true,
		rssKB: u.MaxRSSKB, rssFloorKB: u.FloorKB,
		etlCPU: time.Duration(u.UserNS + u.SysNS),
		pgCPU:  pgAfter - pgBefore,
	}, nil
}

// waitSessions waits until the etl process's sessions are gone, so that
// their CPU time has been collected by the postmaster.
func (b *bench) waitSessions(ctx context.Context) error {
	conn, err := b.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'etl'").Scan(&n); err != nil {
			return fmt.Errorf("reading pg_stat_activity: %w", err)
		}
		if n == 0 || time.Now().After(deadline) {
			time.Sleep(50 * time.Millisecond) // the postmaster reaps the backend after it leaves pg_stat_activity
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count returns the number of rows in table.
func (b *bench) count(ctx context.Context, table string) (int64, error) {
	conn, err := b.connect(ctx, database)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting %s: %w", table, err)
	}
	return n, nil
}

// pgCPU returns the CPU time (user + system) used so far by the cluster:
// the postmaster, its live children, and the children it has reaped.
func (b *bench) pgCPU() (time.Duration, error) {
	pidFile := filepath.Join(b.cl.DataDir(), "postmaster.pid")
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", pidFile, err)
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", pidFile, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("listing processes: %w", err)
	}
	var ticks int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(pid)
		switch {
		case !ok:
		case pid == pm:
			ticks += st.utime + st.stime + st.cutime + st.cstime
		case st.ppid == pm:
			ticks += st.utime + st.stime
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on
// Linux).
const clockTicks = 100

// procStat holds the fields of /proc/<pid>/stat etlbench needs.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
}

func readStat(pid int) (procStat, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state); ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return procStat{}, false
	}
	num := func(k int) int64 { n, _ := strconv.ParseInt(f[k-3], 10, 64); return n }
	return procStat{ppid: int(num(4)), utime: num(14), stime: num(15), cutime: num(16), cstime: num(17)}, true
}

// filteredEnv is the environment without the variables the pipeline reads,
// so that nothing from the caller's shell leaks into a case.
func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "POSTGRES_") || strings.HasPrefix(kv, "QBO_") || strings.HasPrefix(kv, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// cpuModel reads the CPU model name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown model"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

// memTotal reads MemTotal from /proc/meminfo.
func memTotal() string {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

// kernel reads the kernel release.
func kernel() string {
	raw, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(raw))
}
