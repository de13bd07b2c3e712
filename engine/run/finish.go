package run

import (
	"context"
	"path/filepath"

	"github.com/etl-engine/etl/engine/component"
	"github.com/etl-engine/etl/engine/report"
	"github.com/etl-engine/etl/engine/state"
)

// verify runs the report's checks over the stored windows and the table
// once every window completed, and fails the run when one does not hold.
func (e *execution) verify(ctx context.Context, windows []state.WindowState) error {
	rep := report.Build(e.reportInput(ctx, state.Run{}, windows))
	if failed := rep.Failed(); len(failed) > 0 {
		return &CheckError{Failed: failed}
	}
	return nil
}

func (e *execution) reportInput(ctx context.Context, run state.Run, windows []state.WindowState) report.Input {
	in := report.Input{
		Run: run, Pipeline: e.b.Name, Params: e.b.RawParams, StartUTC: e.b.Start, EndUTC: e.b.End,
		Step: e.b.Step.String(), Windows: windows, Now: e.now(),
	}
	if e.loader != nil {
		in.Source = e.loader.Source()
	}
	if ts, ok := e.exporter.(component.TableStatser); ok {
		stats, err := ts.TableStats(ctx)
		if err != nil {
			e.log.Warn("reading table statistics for the report", "error", err)
		} else {
			in.Table = &stats
		}
	}
	return in
}

// archive writes the run's report under EvidenceDir/<pipeline>/<run_id>/.
func (e *execution) archive(ctx context.Context, res *Result, runErr error) (*report.Report, string, error) {
	run := res.Run
	if runErr != nil {
		run.Error = e.cfg.Redactor.Redact(runErr.Error())
	}
	rep := report.Build(e.reportInput(ctx, run, res.Windows))
	dir := filepath.Join(e.cfg.EvidenceDir, e.b.Name, run.RunID)
	return rep, dir, rep.Write(dir, e.cfg.Redactor.Redact)
}
