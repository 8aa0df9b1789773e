package overseer_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every look at /proc in these tests goes through proc, so its formats
// are parsed in one place.

// proc is a process, by pid, as /proc describes it.
type proc int

// file is the path of one of p's /proc files.
func (p proc) file(name string) string {
	return fmt.Sprintf("/proc/%d/%s", int(p), name)
}

// exe returns the path of the binary p runs.
func (p proc) exe() (string, error) {
	return os.Readlink(p.file("exe"))
}

// stat returns p's state (R, S, Z, …) and its parent's pid.
func (p proc) stat() (state string, ppid int, err error) {
	b, err := os.ReadFile(p.file("stat"))
	if err != nil {
		return "", 0, err
	}
	// pid (comm) state ppid …, where comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, fmt.Errorf("pid %d: unexpected stat %q", int(p), b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return "", 0, fmt.Errorf("pid %d: unexpected stat %q", int(p), b)
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return "", 0, fmt.Errorf("pid %d: unexpected stat %q", int(p), b)
	}
	return f[0], ppid, nil
}

// alive reports whether p exists and is not a zombie.
func (p proc) alive() bool {
	state, _, err := p.stat()
	return err == nil && state != "Z"
}

// status returns the value of one field of p's /proc status ("Umask",
// "Threads", …).
func (p proc) status(field string) (string, error) {
	b, err := os.ReadFile(p.file("status"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("pid %d: no %q in /proc status", int(p), field)
}

// fds counts p's open descriptors.
func (p proc) fds() (int, error) {
	entries, err := os.ReadDir(p.file("fd"))
	return len(entries), err
}

// allProcs lists every process in /proc.
func allProcs() []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, proc(pid))
		}
	}
	return out
}

// childrenOf lists the children of pid whose state (R, S, Z, …) keep
// accepts.
func childrenOf(pid int, keep func(state string) bool) []int {
	var out []int
	for _, p := range allProcs() {
		if state, ppid, err := p.stat(); err == nil && ppid == pid && keep(state) {
			out = append(out, int(p))
		}
	}
	return out
}

// childPids lists the live children of pid.
func childPids(pid int) []int {
	return childrenOf(pid, func(state string) bool { return state != "Z" })
}

// zombiesOf counts the zombie children of pid.
func zombiesOf(pid int) int {
	return len(childrenOf(pid, func(state string) bool { return state == "Z" }))
}

// runningFrom lists the live processes whose binary is inside dir,
// whatever their parent.
func runningFrom(dir string) []int {
	var out []int
	for _, p := range allProcs() {
		if exe, err := p.exe(); err == nil && strings.HasPrefix(exe, dir+string(filepath.Separator)) && p.alive() {
			out = append(out, int(p))
		}
	}
	return out
}

// pidAlive reports whether pid is a live (non-zombie) process.
func pidAlive(pid int) bool { return proc(pid).alive() }

// countFDs counts pid's open descriptors, as the smallest of several
// samples: a descriptor that is open only for a moment (the test program
// rewriting its stats file, a timer's goroutine) is not a leak, and a leak
// shows in every sample.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	least := -1
	for i := 0; i < 5; i++ {
		n, err := proc(pid).fds()
		if err != nil {
			t.Fatal(err)
		}
		if least < 0 || n < least {
			least = n
		}
		time.Sleep(20 * time.Millisecond)
	}
	return least
}
