// Package doctor checks that a machine is ready to run pipelines: the
// secrets the pipelines reference are set, PostgreSQL accepts the
// configured role with the privileges runs need, the engine's schema is
// current, QBO accepts the refresh token, and the clocks agree.
//
// Each check is a function that takes its inputs explicitly (settings, a
// resolver, a clock) and returns Check values; none reads the environment
// itself. No check ever puts a secret value in a Check: secrets are named,
// never shown.
package doctor

// Status is the outcome of a check.
type Status string

// Statuses, from best to worst; skip means the check did not run.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Check is the result of one check.
type Check struct {
	// Name says what was checked, e.g. "secret QBO_CLIENT_ID".
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says what to do about a warning or failure (a command, a GRANT,
	// a variable to set); empty when there is nothing to do.
	Fix string `json:"fix,omitempty"`
}

// Counts tallies checks by status.
type Counts struct {
	OK   int `json:"ok"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
	Skip int `json:"skip"`
}

// Count tallies checks by status.
func Count(checks []Check) Counts {
	var c Counts
	for _, ch := range checks {
		switch ch.Status {
		case StatusOK:
			c.OK++
		case StatusWarn:
			c.Warn++
		case StatusFail:
			c.Fail++
		case StatusSkip:
			c.Skip++
		}
	}
	return c
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool { return Count(checks).Fail > 0 }

// ok, warn, fail and skip build a Check of their status.
func ok(name, detail string) Check { return Check{Name: name, Status: StatusOK, Detail: detail} }

func warn(name, detail, fix string) Check {
	return Check{Name: name, Status: StatusWarn, Detail: detail, Fix: fix}
}

func fail(name, detail, fix string) Check {
	return Check{Name: name, Status: StatusFail, Detail: detail, Fix: fix}
}

func skip(name, detail, fix string) Check {
	return Check{Name: name, Status: StatusSkip, Detail: detail, Fix: fix}
}
