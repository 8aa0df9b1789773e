// Package proc reads process facts from Linux procfs and keeps track of every
// process the benchmark starts, so that all of them can be killed at the end.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Stat is the part of /proc/PID/stat the benchmark needs.
type Stat struct {
	Pid   int
	State byte // R, S, D, Z, ...
	Ppid  int
	Pgid  int
	// Start is the process start time in clock ticks since boot.
	Start uint64
}

// ReadStat parses /proc/PID/stat. It fails when the process does not exist.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	// The command name is in parentheses and may contain spaces; the fields
	// we need follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return Stat{}, errors.New("proc: malformed stat for pid " + strconv.Itoa(pid))
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 20 {
		return Stat{}, errors.New("proc: short stat for pid " + strconv.Itoa(pid))
	}
	s := Stat{Pid: pid, State: f[0][0]}
	s.Ppid, _ = strconv.Atoi(f[1])
	s.Pgid, _ = strconv.Atoi(f[2])
	s.Start, _ = strconv.ParseUint(f[19], 10, 64)
	return s, nil
}

// Alive reports whether pid exists and is not a zombie. kill(pid, 0) alone
// would count an exited but unreaped process as alive.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return false
	}
	s, err := ReadStat(pid)
	if err != nil {
		return false
	}
	return s.State != 'Z' && s.State != 'X'
}

// Status holds the /proc/PID/status fields the benchmark reports.
type Status struct {
	RSSKB   int // VmRSS in KiB
	Threads int
}

// ReadStatus parses VmRSS and Threads from /proc/PID/status.
func ReadStatus(pid int) (Status, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Status{}, err
	}
	defer f.Close()
	var st Status
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			st.RSSKB, _ = strconv.Atoi(fields[0])
		case "Threads":
			st.Threads, _ = strconv.Atoi(fields[0])
		}
	}
	return st, sc.Err()
}

// FDCount returns the number of open file descriptors of pid.
func FDCount(pid int) (int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}

// All returns the stat of every live (non-zombie) process on the system.
func All() []Stat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Stat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := ReadStat(pid)
		if err != nil || s.State == 'Z' || s.State == 'X' {
			continue
		}
		out = append(out, s)
	}
	return out
}

// Related returns the live processes that belong to a service: members of
// process group pgid, children of any pid in roots, and any pid in extra that
// is still alive. Each pid appears once.
func Related(pgid int, roots []int, extra []int) []int {
	isRoot := map[int]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	seen := map[int]bool{}
	var out []int
	add := func(pid int) {
		if !seen[pid] {
			seen[pid] = true
			out = append(out, pid)
		}
	}
	for _, s := range All() {
		if (pgid > 0 && s.Pgid == pgid) || isRoot[s.Ppid] || isRoot[s.Pid] {
			add(s.Pid)
		}
	}
	for _, pid := range extra {
		if !seen[pid] && Alive(pid) {
			add(pid)
		}
	}
	return out
}

// Children returns the live children of ppid.
func Children(ppid int) []int {
	var out []int
	for _, s := range All() {
		if s.Ppid == ppid {
			out = append(out, s.Pid)
		}
	}
	return out
}

// Youngest returns the live child of ppid that started last (0 when ppid has
// no live child).
func Youngest(ppid int) int {
	var best Stat
	for _, s := range All() {
		if s.Ppid == ppid && (best.Pid == 0 || s.Start > best.Start || (s.Start == best.Start && s.Pid > best.Pid)) {
			best = s
		}
	}
	return best.Pid
}
