package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/etl-engine/etl/connectors/qbo/sandbox"
	"github.com/etl-engine/etl/internal/pgcluster"
)

// demoPipelines are run in this order: invoices refer to customers and
// items.
var demoPipelines = []string{"qb_customers_backfill.yaml", "qb_items_backfill.yaml", "qb_invoices_backfill.yaml"}

func newDemoCmd(a *app) *cobra.Command {
	var (
		dir          string
		pipelinesDir string
		seed         int64
		customers    int
		items        int
		invoices     int
		keep         bool
		f            runFlags
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the three QBO back-fills end to end against a local sandbox",
		Long: `Run the main job on a machine with nothing configured: start the QBO sandbox
in-process, use the PostgreSQL named by POSTGRES_HOST (and the other
POSTGRES_* settings) or, when none is set, start a throwaway local cluster
from the installed PostgreSQL binaries, apply the schema, and run
qb_customers_backfill, qb_items_backfill and qb_invoices_backfill over the
sandbox's whole history. It prints where each run's report is.`,
		Example: `  etl demo
  etl demo --invoices 50000 --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			log, err := a.logger(cmd.ErrOrStderr())
			if err != nil {
				return withCode(exitConfig, err)
			}
			srv, err := sandbox.New(sandbox.Options{Seed: seed, Customers: customers, Items: items, Invoices: invoices,
				RequestsPerMinute: -1, MaxInFlight: 10})
			if err != nil {
				return withCode(exitConfig, err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("starting the sandbox: %w", err)
			}
			addr := ln.Addr().String()
			ln.Close()
			sctx, stopSandbox := context.WithCancel(context.WithoutCancel(ctx))
			sandboxDone := make(chan error, 1)
			go func() { sandboxDone <- srv.ListenAndServe(sctx, addr) }()
			defer func() { stopSandbox(); <-sandboxDone }()
			if err := waitHTTP(ctx, "http://"+addr+"/_sandbox/health"); err != nil {
				return fmt.Errorf("starting the sandbox: %w", err)
			}
			fmt.Fprintf(out, "QBO sandbox on http://%s: %d customers, %d items, %d invoices (seed %d)\n", addr, customers, items, invoices, seed)

			env := map[string]string{
				"QBO_ENV":           "sandbox",
				"QBO_BASE_URL":      "http://" + addr,
				"QBO_TOKEN_URL":     "http://" + addr + "/oauth2/v1/tokens/bearer",
				"QBO_REALM_ID":      srv.RealmID(),
				"QBO_CLIENT_ID":     "sandbox-client-id",
				"QBO_CLIENT_SECRET": "sandbox-client-secret",
				"QBO_REFRESH_TOKEN": srv.RefreshToken(),
			}
			if _, ok := os.LookupEnv("POSTGRES_HOST"); ok {
				fmt.Fprintf(out, "PostgreSQL: using POSTGRES_HOST=%s\n", os.Getenv("POSTGRES_HOST"))
			} else {
				cl, err := startDemoCluster(ctx, dir, log)
				if err != nil {
					return err
				}
				defer func() {
					if keep {
						fmt.Fprintf(out, "PostgreSQL kept running on 127.0.0.1:%d (data in %s); stop it with: pg_ctl -D %s stop\n", cl.Port(), cl.DataDir(), cl.DataDir())
						return
					}
					sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
					defer cancel()
					if err := cl.Stop(sctx); err != nil {
						log.Warn("stopping the demo PostgreSQL", "error", err)
					}
				}()
				env["POSTGRES_HOST"] = cl.Host()
				env["POSTGRES_PORT"] = strconv.Itoa(cl.Port())
				env["POSTGRES_DB"] = "etl"
				env["POSTGRES_USER"] = cl.SuperUser()
				env["POSTGRES_PASSWORD"] = cl.Password()
				env["POSTGRES_SSLMODE"] = "disable"
				a.redactor.Add(cl.Password())
				fmt.Fprintf(out, "PostgreSQL: throwaway cluster on 127.0.0.1:%d, database etl\n", cl.Port())
			}
			a.envOverlay = env
			// The sandbox is new, so any refresh-token chain a reused
			// database stored for its realm belongs to an earlier sandbox.
			if db, err := a.openDB(ctx, cmd.ErrOrStderr(), true); err != nil {
				return err
			} else {
				_, err := db.Pool().Exec(ctx, "DELETE FROM etl.credentials WHERE key = $1", "qbo/"+srv.RealmID())
				db.Close()
				if err != nil {
					return fmt.Errorf("clearing the sandbox's stored tokens: %w", err)
				}
			}
			f.params = []string{"fecha_inicio=2019-01-01T00:00:00Z", "fecha_fin=2026-01-01T00:00:00Z"}
			for _, p := range demoPipelines {
				file := filepath.Join(pipelinesDir, p)
				fmt.Fprintf(out, "\n== etl run %s --param %s --param %s\n", file, f.params[0], f.params[1])
				if err := a.runPipeline(ctx, cmd.ErrOrStderr(), out, file, f, ""); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "\ndemo completed: open the report.html files above; evidence is under %s/\n", f.evidenceDir)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "folder for the throwaway PostgreSQL cluster (default: a temporary folder)")
	fl.StringVar(&pipelinesDir, "pipelines", "pipelines", "folder holding the three qb_*_backfill.yaml pipelines")
	fl.Int64Var(&seed, "seed", 1, "seed of the sandbox's data")
	fl.IntVar(&customers, "customers", 2500, "customers in the sandbox")
	fl.IntVar(&items, "items", 300, "items in the sandbox")
	fl.IntVar(&invoices, "invoices", 10000, "invoices in the sandbox")
	fl.BoolVar(&keep, "keep", false, "leave the throwaway PostgreSQL running afterwards")
	fl.StringVar(&f.evidenceDir, "evidence-dir", "evidence", "root folder of the evidence archive")
	fl.StringVar(&f.progress, "progress", "auto", "progress display: auto, bar, log or none")
	fl.IntVar(&f.requestsPerMinute, "requests-per-minute", 100000, "rate limit towards the local sandbox (the pipelines' own, 450, is for real QBO)")
	f.leaseTTL = 30 * time.Second
	return cmd
}

// startDemoCluster starts (or, with --dir, restarts) the throwaway cluster
// and makes sure database etl exists. With --dir, the superuser password is
// kept in <dir>/demo-password (mode 0600) so the cluster can be reused.
func startDemoCluster(ctx context.Context, dir string, log interface {
	Info(string, ...any)
}) (*pgcluster.Cluster, error) {
	opts := pgcluster.Options{Dir: dir}
	if dir != "" {
		pw, err := demoPassword(dir)
		if err != nil {
			return nil, err
		}
		opts.Password = pw
	}
	cl, err := pgcluster.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("starting a throwaway PostgreSQL (set POSTGRES_HOST to use an existing one): %w", err)
	}
	if err := cl.CreateDatabase(ctx, "etl"); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42P04" { // 42P04: the database exists already
			_ = cl.Stop(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("creating database etl: %w", err)
		}
	}
	log.Info("throwaway PostgreSQL started", "port", cl.Port(), "data", cl.DataDir())
	return cl, nil
}

func demoPassword(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, "demo-password")
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return string(b), nil
	}
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(pw), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return pw, nil
}
