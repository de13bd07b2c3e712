package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "etl",
		Short: "Declarative back-fills from QuickBooks Online to PostgreSQL",
		Long: `etl runs pipelines written as YAML files: a loader (qbo.query), transforms,
and an exporter (postgres.upsert). A run cuts its date range into windows,
loads each window page by page, verifies it against the source's count, and
commits its rows and checkpoint in one transaction, so an interrupted run
resumes where it stopped.

Start with:
  etl lint pipelines triggers        check every file, no network
  etl plan pipelines/qb_items_backfill.yaml --param fecha_inicio=2024-01-01T00:00:00Z --param fecha_fin=2025-01-01T00:00:00Z
  etl run  pipelines/qb_items_backfill.yaml --param fecha_inicio=... --param fecha_fin=...

Exit codes: 0 ok, 1 failed (resumable: run it again) or lint findings,
2 configuration or usage error, 3 QuickBooks needs re-authorisation,
75 the pipeline is already running, 130 interrupted (resumable).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	// --cpuprofile is for cmd/etlbench and performance work only.
	root.PersistentFlags().StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return a.startProfile() }
	root.AddCommand(
		newRunCmd(a),
		newSandboxCmd(a),
		newDemoCmd(a),
		newMigrateCmd(a),
		newStatusCmd(a),
		newReportCmd(a),
		newTriggersCmd(a),
		newVersionCmd(),
		newLintCmd(a),
		newPlanCmd(a),
		newDoctorCmd(a),
	)
	return root
}
