// Command etlbench measures the invoice back-fill end to end on this
// machine and checks it against the ingest targets.
//
// In one run it:
//
//  1. starts a throwaway PostgreSQL cluster (internal/pgcluster, default
//     settings) and the QBO sandbox as a separate process ("etl sandbox"),
//     so that neither is counted in the measured process;
//  2. fresh: runs "etl run pipelines/qb_invoices_backfill.yaml" over
//     2019-01-01..2026-01-01 as a child process into an empty database, and
//     records its wall time (process start to exit), CPU time and peak RSS
//     (rusage ru_maxrss, taken through a small measuring parent: see
//     measure.go), and the CPU time of every PostgreSQL process;
//  3. ceiling: regenerates the same invoices in process (the sandbox is
//     deterministic: the same options serve byte-identical payloads) and
//     loads them with plain COPY, 1,000 rows per statement and transaction,
//     on ONE connection into an empty table of the same layout (primary key
//     and lz4 compression included); only the COPY is timed;
//  4. re-run: VACUUM ANALYZE and CHECKPOINT, then "etl run --fresh" over
//     the loaded rows (every record unchanged);
//  5. small: a fresh load of --small invoices into a new empty database,
//     from a new sandbox, to compare peak RSS across sizes.
//
// It prints the machine facts, one table (case, rows, seconds, rows/s,
// ratio to the ceiling, peak RSS, etl and PostgreSQL CPU) and a verdict per
// target: fresh >= 1.0x the ceiling, re-run >= 0.9x fresh, peak RSS
// < 150 MB and about the same at both sizes (within 50%: see rssSpreadMax). It exits 1 when a
// target is missed.
//
// Run it with "make bench" (which builds bin/etl first), or:
//
//	go build -o bin/etl ./cmd/etl && go run ./cmd/etlbench --invoices 200000 --small 50000
//
// --cpuprofile DIR makes every etl run write DIR/<case>.pprof (through
// etl's hidden --cpuprofile flag) for "go tool pprof bin/etl DIR/fresh.pprof".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// options are the command-line flags.
type options struct {
	etl        string
	pipeline   string
	invoices   int
	small      int
	customers  int
	items      int
	seed       int64
	dir        string
	cpuProfile string
	keep       bool
}

func main() {
	if len(os.Args) > 3 && os.Args[1] == measureVerb {
		measureChild(os.Args[2], os.Args[3], os.Args[4:])
		return
	}
	var o options
	flag.StringVar(&o.etl, "etl", "bin/etl", "etl binary to measure (build it first: make build)")
	flag.StringVar(&o.pipeline, "pipeline", "pipelines/qb_invoices_backfill.yaml", "invoice back-fill pipeline")
	flag.IntVar(&o.invoices, "invoices", 200000, "invoices of the large case (fresh, ceiling, re-run)")
	flag.IntVar(&o.small, "small", 50000, "invoices of the small fresh case (0 skips it)")
	flag.IntVar(&o.customers, "customers", 2500, "customers in the sandbox")
	flag.IntVar(&o.items, "items", 300, "items in the sandbox")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the sandbox's data")
	flag.StringVar(&o.dir, "dir", "", "work folder for the cluster, logs and evidence (default: a temporary folder, removed afterwards)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "folder where each etl run writes <case>.pprof")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (logs, evidence) afterwards")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "etlbench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, os.Stdout, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etlbench: "+err.Error())
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// run performs every case and prints the results; ok is false when a
// target was missed.
func run(ctx context.Context, out io.Writer, o options) (ok bool, err error) {
	if o.invoices <= 0 {
		return false, errors.New("--invoices must be positive")
	}
	b, err := newBench(ctx, out, o)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := b.close(context.WithoutCancel(ctx)); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := b.printFacts(ctx); err != nil {
		return false, err
	}
	var results []result
	add := func(r result, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-8s %8d rows in %6.2f s = %7.0f rows/s", r.name, r.rows, r.wall.Seconds(), r.rate())
		if r.isETL {
			fmt.Fprintf(out, ", peak RSS %.1f MB (measuring floor %.1f MB)", r.rssMB(), float64(r.rssFloorKB)/kilobytesInMB)
		}
		fmt.Fprintln(out)
		results = append(results, r)
		return nil
	}

	fmt.Fprintf(out, "\n== fresh: etl run, %d invoices into an empty database\n", o.invoices)
	sb, err := b.prepare(ctx, o.invoices)
	if err != nil {
		return false, err
	}
	if err := add(b.etlRun(ctx, "fresh", sb, o.invoices, false)); err != nil {
		return false, err
	}

	fmt.Fprintf(out, "\n== ceiling: plain COPY of the same %d payloads on one connection\n", o.invoices)
	if err := add(b.ceiling(ctx, o.invoices)); err != nil {
		return false, err
	}

	fmt.Fprintf(out, "\n== re-run: etl run --fresh over the %d loaded rows\n", o.invoices)
	if err := b.settle(ctx, "raw.qb_invoices"); err != nil {
		return false, err
	}
	if err := add(b.etlRun(ctx, "re-run", sb, o.invoices, true)); err != nil {
		return false, err
	}
	if err := sb.stop(); err != nil {
		return false, err
	}

	if o.small > 0 {
		fmt.Fprintf(out, "\n== small: etl run, %d invoices into an empty database\n", o.small)
		sb, err := b.prepare(ctx, o.small)
		if err != nil {
			return false, err
		}
		err = add(b.etlRun(ctx, "small", sb, o.small, false))
		if serr := sb.stop(); err == nil {
			err = serr
		}
		if err != nil {
			return false, err
		}
	}
	fmt.Fprintln(out)
	printTable(out, results)
	fmt.Fprintln(out)
	return printVerdicts(out, results), nil
}

// cpuCount is the number of CPUs the Go runtime sees.
func cpuCount() int { return runtime.NumCPU() }
