package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// statusLabel is how WriteText shows a status: problems in capitals.
var statusLabel = map[Status]string{StatusOK: "ok", StatusWarn: "WARN", StatusFail: "FAIL", StatusSkip: "skip"}

// WriteText prints the checks as a table, one line per check (status,
// name, detail) with its fix on the next line, then a summary line.
func WriteText(w io.Writer, checks []Check) error {
	nameWidth := 0
	for _, c := range checks {
		nameWidth = max(nameWidth, utf8.RuneCountInString(c.Name))
	}
	var b strings.Builder
	indent := strings.Repeat(" ", 6+nameWidth+2)
	for _, c := range checks {
		fmt.Fprintf(&b, "%-4s  %s%s  %s\n", statusLabel[c.Status], c.Name,
			strings.Repeat(" ", nameWidth-utf8.RuneCountInString(c.Name)), c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(&b, "%sfix: %s\n", indent, c.Fix)
		}
	}
	n := Count(checks)
	fmt.Fprintf(&b, "\n%d %s: %d ok, %d %s, %d failed, %d skipped\n", len(checks), plural(len(checks), "check", "checks"),
		n.OK, n.Warn, plural(n.Warn, "warning", "warnings"), n.Fail, n.Skip)
	if n.Fail > 0 {
		b.WriteString("fix the FAIL lines above, then run etl doctor again\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Report is the JSON form of a doctor run.
type Report struct {
	OK     bool    `json:"ok"`
	Counts Counts  `json:"counts"`
	Checks []Check `json:"checks"`
}

// WriteJSON prints the checks as one indented JSON object (Report).
func WriteJSON(w io.Writer, checks []Check) error {
	if checks == nil {
		checks = []Check{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Report{OK: !Failed(checks), Counts: Count(checks), Checks: checks}); err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	return nil
}
