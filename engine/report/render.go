package report

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Markdown renders the report for humans reviewing a pull request or a
// ticket.
func (r *Report) Markdown() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Run %s: %s\n\n", r.RunID, r.Status)
	fmt.Fprintf(&b, "- Pipeline: `%s`\n", r.Pipeline)
	fmt.Fprintf(&b, "- Source: %s %s (%s, realm %s)\n", r.Source.System, r.Source.Entity, r.Source.Env, r.Source.Realm)
	fmt.Fprintf(&b, "- Range: [%s, %s), step %s\n", r.StartUTC.Format(time.RFC3339), r.EndUTC.Format(time.RFC3339), r.Step)
	fmt.Fprintf(&b, "- Started: %s; report generated %s\n", r.StartedAt.Format(time.RFC3339), r.GeneratedAt.Format(time.RFC3339))
	if r.Trigger != "" {
		fmt.Fprintf(&b, "- Trigger: `%s`\n", r.Trigger)
	}
	if r.Resumed {
		b.WriteString("- Resumed an earlier unfinished run with the same plan\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "- Error: %s\n", mdEscape(r.Error))
	}
	b.WriteString("\n## Checks\n\n| check | result | detail |\n|---|---|---|\n")
	for _, c := range r.Checks {
		res := "pass"
		if !c.Passed {
			res = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Name, res, mdEscape(c.Detail))
	}
	if t := r.Table; t != nil {
		b.WriteString("\n## Table\n\n| table | rows | distinct ids | min LastUpdatedTime (UTC) | max LastUpdatedTime (UTC) |\n|---|---|---|---|---|\n")
		fmt.Fprintf(&b, "| `%s` | %d | %d | %s | %s |\n", t.Name, t.Rows, t.DistinctIDs, fmtTime(t.MinUpdatedUTC), fmtTime(t.MaxUpdatedUTC))
	}
	tt := r.Totals
	fmt.Fprintf(&b, "\n## Totals\n\n%d of %d windows completed; source count %d; %d pages; fetched %d; inserted %d; updated %d; unchanged %d; stale %d; duplicates dropped %d; retries %d; 429s %d.\n",
		tt.Completed, tt.Windows, tt.SourceCount, tt.Pages, tt.Fetched, tt.Inserted, tt.Updated, tt.Unchanged, tt.Stale, tt.DuplicatesDropped, tt.Retries, tt.Throttled)
	b.WriteString("\n## Windows\n\n| # | start (UTC) | end (UTC) | status | source count | pages | fetched | inserted | updated | unchanged | duplicates dropped | retries | 429s | duration |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range r.Windows {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s |\n",
			w.Index, w.StartUTC.Format(time.RFC3339), w.EndUTC.Format(time.RFC3339), w.Status, w.SourceCount, w.Pages, w.Fetched,
			w.Inserted, w.Updated, w.Unchanged, w.DuplicatesDropped, w.Retries, w.Throttled, (time.Duration(w.DurationMS) * time.Millisecond).String())
	}
	return b.Bytes(), nil
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// bar is one column of the chart.
type bar struct {
	X, Y, W, H float64
	Title      string
	Failed     bool
}

const (
	chartW = 960.0
	chartH = 240.0
)

func (r *Report) bars() ([]bar, int64) {
	var peak int64
	for _, w := range r.Windows {
		peak = max(peak, w.SourceCount, w.Fetched)
	}
	n := len(r.Windows)
	if n == 0 {
		return nil, 0
	}
	slot := chartW / float64(n)
	out := make([]bar, n)
	for i, w := range r.Windows {
		h := 0.0
		if peak > 0 {
			h = float64(w.SourceCount) / float64(peak) * (chartH - 20)
		}
		out[i] = bar{
			X: float64(i)*slot + slot*0.1, W: max(slot*0.8, 0.5), Y: chartH - h, H: h,
			Title:  fmt.Sprintf("#%d %s .. %s: %d records (%s)", w.Index, w.StartUTC.Format("2006-01-02 15:04"), w.EndUTC.Format("2006-01-02 15:04"), w.SourceCount, w.Status),
			Failed: w.Status != "completed",
		}
	}
	return out, peak
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"rfc3339": func(t time.Time) string { return t.Format(time.RFC3339) },
	"ptime":   fmtTime,
	"dur":     func(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Run {{.R.RunID}}: {{.R.Status}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.pass{color:#176117}.fail{color:#b00020;font-weight:bold}
svg{border:1px solid #ddd;background:#fafafa}.bar{fill:#3b6ea8}.bar.failed{fill:#b00020}
</style></head><body>
<h1>Run {{.R.RunID}}: <span class="{{if eq .R.Status "completed"}}pass{{else}}fail{{end}}">{{.R.Status}}</span></h1>
<p>Pipeline <code>{{.R.Pipeline}}</code>, {{.R.Source.System}} {{.R.Source.Entity}} ({{.R.Source.Env}}, realm {{.R.Source.Realm}}).
Range [{{rfc3339 .R.StartUTC}}, {{rfc3339 .R.EndUTC}}), step {{.R.Step}}. Started {{rfc3339 .R.StartedAt}}.
{{if .R.Trigger}}Trigger <code>{{.R.Trigger}}</code>.{{end}}{{if .R.Resumed}} Resumed an earlier unfinished run.{{end}}</p>
{{if .R.Error}}<p class="fail">{{.R.Error}}</p>{{end}}
<h2>Checks</h2>
<table><tr><th class="l">check</th><th class="l">result</th><th class="l">detail</th></tr>
{{range .R.Checks}}<tr><td class="l">{{.Name}}</td><td class="l {{if .Passed}}pass{{else}}fail{{end}}">{{if .Passed}}pass{{else}}FAIL{{end}}</td><td class="l">{{.Detail}}</td></tr>
{{end}}</table>
<h2>Records per window</h2>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="source count per window, peak {{.Peak}}">
<text x="4" y="14" font-size="12">peak {{.Peak}} records</text>
{{range .Bars}}<rect class="bar{{if .Failed}} failed{{end}}" x="{{printf "%.2f" .X}}" y="{{printf "%.2f" .Y}}" width="{{printf "%.2f" .W}}" height="{{printf "%.2f" .H}}"><title>{{.Title}}</title></rect>
{{end}}</svg>
{{with .R.Table}}<h2>Table</h2>
<table><tr><th class="l">table</th><th>rows</th><th>distinct ids</th><th>min LastUpdatedTime (UTC)</th><th>max LastUpdatedTime (UTC)</th></tr>
<tr><td class="l"><code>{{.Name}}</code></td><td>{{.Rows}}</td><td>{{.DistinctIDs}}</td><td>{{ptime .MinUpdatedUTC}}</td><td>{{ptime .MaxUpdatedUTC}}</td></tr></table>{{end}}
<h2>Windows</h2>
<table><tr><th>#</th><th class="l">start (UTC)</th><th class="l">end (UTC)</th><th class="l">status</th><th>source count</th><th>pages</th><th>fetched</th><th>inserted</th><th>updated</th><th>unchanged</th><th>duplicates dropped</th><th>retries</th><th>429s</th><th>duration</th></tr>
{{range .R.Windows}}<tr><td>{{.Index}}</td><td class="l">{{rfc3339 .StartUTC}}</td><td class="l">{{rfc3339 .EndUTC}}</td><td class="l">{{.Status}}</td><td>{{.SourceCount}}</td><td>{{.Pages}}</td><td>{{.Fetched}}</td><td>{{.Inserted}}</td><td>{{.Updated}}</td><td>{{.Unchanged}}</td><td>{{.DuplicatesDropped}}</td><td>{{.Retries}}</td><td>{{.Throttled}}</td><td>{{dur .DurationMS}}</td></tr>
{{end}}<tr><th colspan="4" class="l">total</th><th>{{.R.Totals.SourceCount}}</th><th>{{.R.Totals.Pages}}</th><th>{{.R.Totals.Fetched}}</th><th>{{.R.Totals.Inserted}}</th><th>{{.R.Totals.Updated}}</th><th>{{.R.Totals.Unchanged}}</th><th>{{.R.Totals.DuplicatesDropped}}</th><th>{{.R.Totals.Retries}}</th><th>{{.R.Totals.Throttled}}</th><th>{{dur .R.Totals.DurationMS}}</th></tr>
</table>
<p>Generated {{rfc3339 .R.GeneratedAt}} by etl.</p>
</body></html>
`))

// HTML renders a self-contained page: no script, no external resource.
func (r *Report) HTML() ([]byte, error) {
	bars, peak := r.bars()
	var b bytes.Buffer
	err := htmlTemplate.Execute(&b, map[string]any{"R": r, "Bars": bars, "Peak": peak, "W": chartW, "H": chartH})
	if err != nil {
		return nil, fmt.Errorf("rendering report.html: %w", err)
	}
	return b.Bytes(), nil
}
