package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/etl-engine/etl/engine/lint"
)

func newLintCmd(_ *app) *cobra.Command {
	var format string
	var strict bool
	cmd := &cobra.Command{
		Use:   "lint [PATH...]",
		Short: "Check pipeline and trigger files (no network, no database)",
		Long: `Check pipeline and trigger files, and folders of them (recursively, *.yaml
and *.yml). Every problem is reported at once as
  file:line:col: severity: message
with a hint on the next line where one helps.

Checks: YAML syntax, duplicate and unknown keys (with "did you mean"), types,
required keys, durations, timestamps and their offsets, fecha_fin after
fecha_inicio, page_size range, unknown components, unsafe schema and table
names, literal secrets, environment variables that are unset without a
default (warning), and triggers whose pipeline is missing or whose params do
not fit it.

Exit status: 0 when there are no errors (warnings allowed unless --strict),
1 when there are errors.`,
		Example: `  etl lint pipelines triggers
  etl lint --format json pipelines/qb_items_backfill.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			res := lint.Run(args)
			switch format {
			case "text":
				lint.WriteText(cmd.OutOrStdout(), res)
			case "json":
				if err := lint.WriteJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			default:
				return withCode(exitConfig, fmt.Errorf("--format %q: use text or json", format))
			}
			if res.Errors > 0 || (strict && res.Warnings > 0) {
				return withCode(exitFailed, errSilent)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors")
	return cmd
}
