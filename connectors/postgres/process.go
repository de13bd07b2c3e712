package postgres

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"syscall"
)

// processInfo identifies a lease holder.
type processInfo struct {
	host string
	pid  int
	// id is "<boot id>:<start time in clock ticks>" on Linux, so that a pid
	// reused after a reboot or by another process is not mistaken for the
	// holder; empty elsewhere.
	id string
	// owner is a human description, e.g. "root@vm pid 4242".
	owner string
}

func currentProcess() processInfo {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	pid := os.Getpid()
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return processInfo{
		host:  host,
		pid:   pid,
		id:    processID(pid),
		owner: fmt.Sprintf("%s@%s pid %d", name, host, pid),
	}
}

// processID returns the boot id and start time of pid, or "" when unknown.
func processID(pid int) string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, starttime field 22.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return ""
	}
	return strings.TrimSpace(string(boot)) + ":" + fields[19]
}

// alive reports whether the process pid with identity id (from processID,
// possibly empty) still runs on this host.
func alive(pid int, id string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	if id == "" {
		return true
	}
	now := processID(pid)
	if now == "" {
		// The process exists but cannot be inspected: assume it is the holder.
		return true
	}
	return now == id
}
