package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// measureVerb is the hidden first argument that turns etlbench into the
// measuring parent of one command: "etlbench measure-child OUT PROG ARGS...".
//
// Why a separate parent: Go starts children with vfork semantics
// (CLONE_VM), and Linux carries the parent's RSS high-water mark into the
// child's ru_maxrss at exec. Measured straight from etlbench, which holds
// the ceiling's payloads (hundreds of MB), every etl run would report
// etlbench's peak instead of its own. This small parent never allocates
// much, so the child's ru_maxrss is its own peak (the floor is this
// process's few MB).
const measureVerb = "measure-child"

// usage is what measureChild reports, as JSON, in the file OUT.
type usage struct {
	WallNS   int64 `json:"wall_ns"`
	MaxRSSKB int64 `json:"maxrss_kb"`
	UserNS   int64 `json:"user_ns"`
	SysNS    int64 `json:"sys_ns"`
	ExitCode int   `json:"exit_code"`
	// FloorKB is this parent's own peak RSS, the lowest figure a child can
	// report.
	FloorKB int64 `json:"floor_kb"`
}

// selfHWM returns this process's own peak RSS in KiB (VmHWM; ru_maxrss
// would include etlbench's, inherited through vfork).
func selfHWM() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// measureChild runs prog with args (standard streams inherited), writes its
// usage to out and exits with its exit code.
func measureChild(out, prog string, args []string) {
	cmd := exec.Command(prog, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Start()
	if err == nil {
		// Pass an interrupt on, so that the child stops cleanly (etl
		// records the run as interrupted) instead of being orphaned.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		go func() {
			for s := range sigs {
				_ = cmd.Process.Signal(s)
			}
		}()
		err = cmd.Wait()
	}
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "etlbench measure-child: "+err.Error())
		os.Exit(2)
	}
	u := usage{WallNS: wall.Nanoseconds(), ExitCode: cmd.ProcessState.ExitCode()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSSKB, u.UserNS, u.SysNS = ru.Maxrss, ru.Utime.Nano(), ru.Stime.Nano()
	}
	u.FloorKB = selfHWM()
	raw, _ := json.Marshal(u)
	if err := os.WriteFile(out, raw, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "etlbench measure-child: "+err.Error())
		os.Exit(2)
	}
	os.Exit(u.ExitCode)
}
