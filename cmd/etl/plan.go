package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/etl-engine/etl/engine/config"
)

// localZone is the business time zone shown beside UTC everywhere.
const localZone = "America/Guayaquil"

func newPlanCmd(a *app) *cobra.Command {
	var params []string
	var format string
	cmd := &cobra.Command{
		Use:   "plan PIPELINE.yaml [--param NAME=VALUE ...]",
		Short: "Print the windows a run would process (no network)",
		Long: `Print the windows a run of the pipeline would process, in UTC with the
America/Guayaquil local time beside. Windows are half-open, [start, end):
each record lands in exactly one window. Nothing is fetched or written.`,
		Example: `  etl plan pipelines/qb_invoices_backfill.yaml \
    --param fecha_inicio=2024-01-01T00:00:00Z --param fecha_fin=2024-07-01T00:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bound, err := a.bindPipeline(cmd.ErrOrStderr(), args[0], params, config.BindCheck)
			if err != nil {
				return err
			}
			windows, err := bound.Windows()
			if err != nil {
				return withCode(exitConfig, err)
			}
			loc, err := time.LoadLocation(localZone)
			if err != nil {
				return fmt.Errorf("loading time zone %s: %w", localZone, err)
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				type jw struct {
					Index      int    `json:"index"`
					StartUTC   string `json:"start_utc"`
					EndUTC     string `json:"end_utc"`
					StartLocal string `json:"start_local"`
					EndLocal   string `json:"end_local"`
				}
				rows := make([]jw, len(windows))
				for i, w := range windows {
					rows[i] = jw{w.Index, w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339), w.Start.In(loc).Format(time.RFC3339), w.End.In(loc).Format(time.RFC3339)}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{
					"pipeline": bound.Name, "step": bound.Step.String(), "timezone": bound.Location.String(),
					"start_utc": bound.Start.UTC().Format(time.RFC3339), "end_utc": bound.End.UTC().Format(time.RFC3339),
					"local_zone": localZone, "params": bound.RawParams, "windows": rows,
				})
			case "text":
			default:
				return withCode(exitConfig, fmt.Errorf("--format %q: use text or json", format))
			}
			fmt.Fprintf(out, "pipeline %s: %d %s of %s over [%s, %s)\n", bound.Name, len(windows), plural(len(windows), "window", "windows"),
				bound.Step, bound.Start.UTC().Format(time.RFC3339), bound.End.UTC().Format(time.RFC3339))
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "#\tstart (UTC)\tend (UTC)\tstart (%s)\tend (%s)\n", localZone, localZone)
			for _, w := range windows {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", w.Index,
					w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339),
					w.Start.In(loc).Format("2006-01-02 15:04 -07:00"), w.End.In(loc).Format("2006-01-02 15:04 -07:00"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringArrayVar(&params, "param", nil, "parameter value as NAME=VALUE (repeatable)")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
