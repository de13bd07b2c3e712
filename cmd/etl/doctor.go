package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/etl-engine/etl/connectors/postgres"
	"github.com/etl-engine/etl/engine/doctor"
	"github.com/etl-engine/etl/engine/secret"
)

// qboRefreshPrompt is asked before --qbo-refresh rotates the token.
const qboRefreshPrompt = "This rotates the QBO refresh token (the new one is stored in etl.credentials). Continue? [y/N] "

// stdinIsTerminal tells whether r is an interactive terminal; tests
// replace it.
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// doctorFlags are the flags of etl doctor.
type doctorFlags struct {
	pipelines  string
	qboRefresh bool
	yes        bool
	format     string
}

func newDoctorCmd(a *app) *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor [--pipelines DIR] [--qbo-refresh [--yes]] [--format text|json]",
		Short: "Check that this machine can run the pipelines, and say what to fix",
		Long: `Check what runs depend on, and print one line per check with what to fix:

  pipelines      the pipeline files in --pipelines parse and pass their checks
  secret NAME    every ${secret:NAME} the pipelines use is set (environment,
                 NAME_FILE or /run/secrets/name); names only, never values
  env NAME       every ${env:NAME} without a default is set
  postgres ...   the POSTGRES_* settings connect; the server version; USAGE
                 and CREATE on schema raw; SELECT, INSERT and UPDATE on the
                 raw tables and the etl tables; temporary tables; migrations
                 current; lz4
  clock ...      the local clock against PostgreSQL's and QBO's (warn above
                 2s, fail above 60s)
  qbo refresh    with --qbo-refresh only: one token refresh, exactly as runs
                 do it. QBO rotates the refresh token on every refresh; the
                 new one is stored in etl.credentials, where runs read it.
                 It asks first on a terminal; elsewhere pass --yes.

Exit status: 0 when no check failed (warnings allowed), 1 when one did,
2 on a usage error.`,
		Example: `  etl doctor
  etl doctor --qbo-refresh
  etl doctor --format json --qbo-refresh --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.format != "text" && f.format != "json" {
				return withCode(exitConfig, fmt.Errorf("--format %q: use text or json", f.format))
			}
			declined := false
			if f.qboRefresh && !f.yes {
				confirmed, err := confirmRefresh(cmd.InOrStdin(), cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				f.qboRefresh, declined = confirmed, !confirmed
			}
			checks := a.doctorChecks(cmd.Context(), cmd.ErrOrStderr(), f, declined)
			var out bytes.Buffer
			var err error
			if f.format == "json" {
				err = doctor.WriteJSON(&out, checks)
			} else {
				err = doctor.WriteText(&out, checks)
			}
			if err != nil {
				return err
			}
			// Checks never hold secret values; the redactor is a second net.
			if _, err := io.WriteString(cmd.OutOrStdout(), a.redactor.Redact(out.String())); err != nil {
				return err
			}
			if doctor.Failed(checks) {
				return withCode(exitFailed, errSilent)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.pipelines, "pipelines", "pipelines", "folder of the pipeline files whose secrets, database and QBO connection are checked")
	fl.BoolVar(&f.qboRefresh, "qbo-refresh", false, "also refresh the QBO token once (rotates the refresh token; asks first)")
	fl.BoolVar(&f.yes, "yes", false, "do not ask before --qbo-refresh rotates the token")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	return cmd
}

// confirmRefresh asks before the refresh token is rotated. Without a
// terminal to ask on, it refuses (a usage error) rather than guess.
func confirmRefresh(in io.Reader, prompt io.Writer) (bool, error) {
	if !stdinIsTerminal(in) {
		return false, withCode(exitConfig, errors.New("--qbo-refresh rotates the QBO refresh token and asks first, "+
			"but standard input is not a terminal: add --yes to confirm, or run without --qbo-refresh"))
	}
	fmt.Fprint(prompt, qboRefreshPrompt)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// doctorChecks runs every check in order: pipelines, secrets, environment,
// database, clocks, QBO refresh.
func (a *app) doctorChecks(ctx context.Context, stderr io.Writer, f doctorFlags, declined bool) []doctor.Check {
	pipelines, pc := doctor.LoadPipelines(f.pipelines)
	checks := []doctor.Check{pc}
	checks = append(checks, doctor.Secrets(pipelines, a.secrets(), a.redactor)...)
	checks = append(checks, doctor.Environment(pipelines, a.lookupEnv)...)

	var db *postgres.DB
	settings, err := postgres.SettingsFromEnv(a.secrets())
	if err != nil {
		checks = append(checks, doctor.Check{Name: doctor.CheckConnection, Status: doctor.StatusFail,
			Detail: "database settings: " + strings.ReplaceAll(err.Error(), "\n", "; "),
			Fix:    "set POSTGRES_USER and POSTGRES_PASSWORD (or their _FILE, or /run/secrets), and check POSTGRES_PORT and POSTGRES_SSLMODE"})
	} else {
		if pw, ok := settings[postgres.FieldPassword].(secret.Value); ok {
			a.redactor.Add(pw.Reveal())
		}
		var dbChecks []doctor.Check
		dbChecks, db = doctor.Database(ctx, settings)
		checks = append(checks, dbChecks...)
	}
	if db != nil {
		defer db.Close()
	}

	qbos := doctor.QBOConfigs(pipelines, a.secrets(), a.lookupEnv)
	httpClient := &http.Client{Timeout: 30 * time.Second}
	clock := doctor.ClockInput{Now: time.Now, HTTPClient: httpClient}
	if db != nil {
		clock.DB = db.Pool()
	}
	if len(qbos) > 0 {
		clock.QBOBaseURL = qbos[0].BaseURL
	}
	checks = append(checks, doctor.ClockSkew(ctx, clock)...)

	log, err := a.logger(stderr)
	if err != nil {
		log = nil // the token source then discards its messages
	}
	if len(qbos) == 0 {
		checks = append(checks, doctor.Check{Name: "qbo refresh", Status: doctor.StatusSkip, Detail: "no loaded pipeline uses qbo.query"})
	}
	for _, c := range qbos {
		switch {
		case declined:
			checks = append(checks, doctor.QBORefreshSkipped(c, "not run: declined at the prompt", "run etl doctor --qbo-refresh and answer y to test it"))
		case !f.qboRefresh:
			checks = append(checks, doctor.QBORefreshSkipped(c, "not run: a refresh rotates the refresh token",
				"run etl doctor --qbo-refresh to test the QBO credentials (the rotated token is stored in etl.credentials)"))
		case db == nil:
			checks = append(checks, doctor.QBORefreshSkipped(c, "not run: the rotated refresh token must be stored in etl.credentials, and the database is not reachable",
				"fix the postgres checks above, then run etl doctor --qbo-refresh again"))
		default:
			checks = append(checks, doctor.QBORefresh(ctx, c, db.State().Credentials(), doctor.RefreshOptions{
				HTTPClient: httpClient, Redactor: a.redactor, Logger: log,
			}))
		}
	}
	return checks
}
