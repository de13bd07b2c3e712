package postgres

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/etl-engine/etl/engine/state"
)

func TestAcquireTwice(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	first, err := e.store.Acquire(ctx, "qb_items_backfill", "run-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.store.Acquire(ctx, "qb_items_backfill", "run-b", time.Minute)
	var busy *state.AlreadyRunningError
	if !errors.As(err, &busy) || !errors.Is(err, state.ErrAlreadyRunning) {
		t.Fatalf("second Acquire = %v, want *AlreadyRunningError", err)
	}
	if busy.HolderRunID != "run-a" || busy.Pipeline != "qb_items_backfill" || !strings.Contains(busy.Owner, "pid ") {
		t.Errorf("holder = %+v", busy)
	}
	if !strings.Contains(err.Error(), "run run-a") {
		t.Errorf("message does not name the holder's run: %v", err)
	}
	// Another pipeline is independent.
	other, err := e.store.Acquire(ctx, "qb_customers_backfill", "run-c", time.Minute)
	if err != nil {
		t.Fatalf("Acquire of another pipeline: %v", err)
	}
	defer other.Release(ctx)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := first.Release(cancelled); err != nil {
		t.Fatalf("Release with a cancelled context: %v", err)
	}
	if err := first.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	next, err := e.store.Acquire(ctx, "qb_items_backfill", "run-b", time.Minute)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer next.Release(ctx)
	if got := next.Ref(); got.Fence != first.Ref().Fence+1 || got.RunID != "run-b" {
		t.Errorf("ref after release = %+v", got)
	}
}

// TestLeaseTakeover covers who may take a lease that is still in the table.
func TestLeaseTakeover(t *testing.T) {
	ctx := context.Background()
	me := currentProcess()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.Process.Pid

	tests := []struct {
		name     string
		host     string
		pid      int
		process  string
		expires  string // SQL interval from now
		released bool
		takeover bool
	}{
		{name: "live holder here", host: me.host, pid: me.pid, process: me.id, expires: "1 hour", takeover: false},
		{name: "dead pid here", host: me.host, pid: deadPID, expires: "1 hour", takeover: true},
		{name: "reused pid here", host: me.host, pid: me.pid, process: "other-boot:1", expires: "1 hour", takeover: !strings.HasPrefix(me.id, "other-boot")},
		{name: "holder elsewhere", host: "other-host", pid: deadPID, expires: "1 hour", takeover: false},
		{name: "expired elsewhere", host: "other-host", pid: 1, expires: "-1 second", takeover: true},
		{name: "released", host: "other-host", pid: 1, expires: "1 hour", released: true, takeover: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.pg.Pool.Exec(ctx, `
				INSERT INTO etl.leases (pipeline, run_id, owner, host, pid, process, fence, acquired_at, heartbeat_at, expires_at, released_at)
				VALUES ('p', 'old-run', 'someone', $1, $2, $3, 5, now(), now(), now() + $4::interval, CASE WHEN $5 THEN now() END)`,
				tc.host, tc.pid, tc.process, tc.expires, tc.released)
			if err != nil {
				t.Fatal(err)
			}
			l, err := e.store.Acquire(ctx, "p", "new-run", time.Minute)
			if !tc.takeover {
				var busy *state.AlreadyRunningError
				if !errors.As(err, &busy) || busy.HolderRunID != "old-run" {
					t.Fatalf("Acquire = %v, want AlreadyRunning by old-run", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Acquire = %v, want a takeover", err)
			}
			defer l.Release(ctx)
			if l.Ref().Fence != 6 {
				t.Errorf("fence = %d, want 6", l.Ref().Fence)
			}
			var runID string
			var pid int
			_ = e.pg.Pool.QueryRow(ctx, "SELECT run_id, pid FROM etl.leases WHERE pipeline = 'p'").Scan(&runID, &pid)
			if runID != "new-run" || pid != os.Getpid() {
				t.Errorf("lease row: run %s pid %d", runID, pid)
			}
		})
	}
}

// TestLeaseSurvivesRestart: the lease row outlives a crash-like restart of
// the server, and the heartbeat carries on afterwards.
func TestLeaseSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	lease, err := e.store.Acquire(ctx, "p", "", 6*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	e.pg.Restart(ctx, true)
	restarted := time.Now()

	deadline := time.Now().Add(10 * time.Second)
	for {
		var fence int64
		var runID string
		var heartbeat time.Time
		err := e.pg.Pool.QueryRow(ctx, "SELECT fence, run_id, heartbeat_at FROM etl.leases WHERE pipeline = 'p'").Scan(&fence, &runID, &heartbeat)
		if err == nil {
			if fence != lease.Ref().Fence || runID != lease.Ref().RunID {
				t.Fatalf("after restart: fence %d run %s, want %+v", fence, runID, lease.Ref())
			}
			if heartbeat.After(restarted) {
				break // renewed after the restart
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease not renewed within 10 s of the restart (last err %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case <-lease.Lost():
		t.Fatal("lease reported lost after a short restart")
	default:
	}
	// The store works again on new connections.
	if _, err := e.store.StartRun(ctx, lease, state.RunSpec{PlanKey: "k", Windows: windows(1)}); err != nil {
		t.Fatalf("StartRun after restart: %v", err)
	}
}

// TestLeaseLostWhenServerGone: renewals failing past the ttl close Lost.
// It needs no control of the server, only ownership of the test database,
// so it runs on the throwaway cluster and on ETL_TEST_DATABASE_URL alike.
func TestLeaseLostWhenServerGone(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	lease, err := e.store.Acquire(ctx, "p", "", 600*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	// A connection to another database of the same server, kept while the
	// store's connections are cut off (a database cannot refuse connections
	// to itself from inside).
	cfg := e.pg.Pool.Config().ConnConfig.Copy()
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	db := quoteIdent(e.pg.Name())
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true")
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", e.pg.Name()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lease.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("Lost() not closed while renewals failed past the ttl")
	}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
