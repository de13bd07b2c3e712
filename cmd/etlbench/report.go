package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Targets from the issue.
const (
	freshTarget = 1.0   // fresh rows/s over the ceiling's
	rerunTarget = 0.9   // re-run rows/s over fresh
	rssLimitMB  = 150.0 // peak RSS of every etl run
	// rssSpreadMax is how much more the large load's peak RSS may be than
	// the small one's. Memory is set by the pages in flight (window
	// concurrency x a page being written and one being fetched), not by
	// the record count: at 50k invoices a monthly window is one page of
	// ~600 records, from ~150k on it is full 1,000-record pages, after
	// which RSS levels off (measured: 50k 28.6 MB, 100k 35.4, 200k 41.0,
	// 400k 43.9). So the two sizes differ by about one page set, which
	// this bound allows, while memory growing with the data would not
	// pass.
	rssSpreadMax  = 0.50
	bytesPerMB    = 1 << 20
	kilobytesInMB = bytesPerMB / 1024
)

// result is one measured case.
type result struct {
	name  string
	rows  int64
	wall  time.Duration
	isETL bool
	// rssKB is the etl process's peak resident set (ru_maxrss, KiB).
	rssKB int64
	// rssFloorKB is the measuring parent's own peak RSS: rssKB cannot be
	// lower.
	rssFloorKB int64
	// etlCPU is the loading process's CPU time (etl, or etlbench for the
	// ceiling); pgCPU the whole cluster's.
	etlCPU, pgCPU time.Duration
}

func (r result) rate() float64 { return float64(r.rows) / r.wall.Seconds() }

func (r result) rssMB() float64 { return float64(r.rssKB) / kilobytesInMB }

func find(rs []result, name string) (result, bool) {
	for _, r := range rs {
		if r.name == name {
			return r, true
		}
	}
	return result{}, false
}

// printTable prints one line per case.
func printTable(out io.Writer, rs []result) {
	ceiling, hasCeiling := find(rs, "ceiling")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\trows\tseconds\trows/s\tx ceiling\tpeak RSS MB\tloader CPU s\tPG CPU s\t")
	for _, r := range rs {
		ratio, rss := "-", "-"
		if hasCeiling {
			ratio = fmt.Sprintf("%.2f", r.rate()/ceiling.rate())
		}
		if r.isETL {
			rss = fmt.Sprintf("%.1f", r.rssMB())
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%s\t%s\t%.2f\t%.2f\t\n",
			r.name, r.rows, r.wall.Seconds(), r.rate(), ratio, rss, r.etlCPU.Seconds(), r.pgCPU.Seconds())
	}
	tw.Flush()
	fmt.Fprintln(out, "loader CPU: the etl process (etlbench itself for the ceiling); PG CPU: every PostgreSQL process.")
}

// printVerdicts prints one line per target and reports whether all were
// met.
func printVerdicts(out io.Writer, rs []result) bool {
	ok := true
	verdict := func(met bool, format string, args ...any) {
		word := "PASS"
		if !met {
			word, ok = "FAIL", false
		}
		fmt.Fprintf(out, "%s  %s\n", word, fmt.Sprintf(format, args...))
	}
	fresh, _ := find(rs, "fresh")
	ceiling, _ := find(rs, "ceiling")
	rerun, _ := find(rs, "re-run")
	r := fresh.rate() / ceiling.rate()
	verdict(r >= freshTarget, "fresh %.0f rows/s = %.2fx the single-connection COPY ceiling %.0f rows/s (target >= %.1fx)",
		fresh.rate(), r, ceiling.rate(), freshTarget)
	r = rerun.rate() / fresh.rate()
	verdict(r >= rerunTarget, "re-run %.0f rows/s = %.2fx fresh (target >= %.1fx)", rerun.rate(), r, rerunTarget)
	var peak result
	for _, x := range rs {
		if x.isETL && x.rssKB > peak.rssKB {
			peak = x
		}
	}
	verdict(peak.rssMB() < rssLimitMB, "peak RSS %.1f MB (%s) (target < %.0f MB)", peak.rssMB(), peak.name, rssLimitMB)
	if small, ok := find(rs, "small"); ok {
		spread := fresh.rssMB()/small.rssMB() - 1
		verdict(spread <= rssSpreadMax && spread >= -rssSpreadMax,
			"peak RSS %.1f MB at %d rows vs %.1f MB at %d rows: %+.0f%% (target: within %.0f%%)",
			fresh.rssMB(), fresh.rows, small.rssMB(), small.rows, spread*100, rssSpreadMax*100)
	}
	return ok
}
