package proc

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Tracker remembers every process group and pid the benchmark started or saw
// serving, so that KillAll can remove them all, on success, error or Ctrl-C.
//
// When File is set, the tracked process groups are also written there (one
// per line) so that run.sh can kill them if the driver itself is killed.
// A Tracker is safe for concurrent use.
type Tracker struct {
	File string
	// ExeDir, when set, restricts tracked single pids (not groups) to
	// processes whose executable lies under this directory, so that a
	// recycled pid never makes KillAll hit an unrelated process.
	ExeDir string

	mu     sync.Mutex
	groups map[int]bool
	pids   map[int]bool
}

// AddGroup records a process group (the pid of a service's first process,
// which the driver starts with Setpgid).
func (t *Tracker) AddGroup(pgid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.groups == nil {
		t.groups = map[int]bool{}
	}
	t.groups[pgid] = true
	t.writeLocked()
}

// AddPid records one pid that belongs to a service (for example a pid that
// answered a request), in case it left the service's process group.
func (t *Tracker) AddPid(pid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pids == nil {
		t.pids = map[int]bool{}
	}
	t.pids[pid] = true
}

// writeLocked rewrites File with the current groups; errors are ignored
// because the file is only a fallback for run.sh.
func (t *Tracker) writeLocked() {
	if t.File == "" {
		return
	}
	var b strings.Builder
	for g := range t.groups {
		fmt.Fprintln(&b, g)
	}
	_ = os.WriteFile(t.File, []byte(b.String()), 0o644)
}

// Alive returns the tracked processes that are still running: members of a
// tracked group, children of a tracked group leader, and tracked pids.
func (t *Tracker) Alive() []int {
	t.mu.Lock()
	var groups, pids []int
	for g := range t.groups {
		groups = append(groups, g)
	}
	for p := range t.pids {
		pids = append(pids, p)
	}
	t.mu.Unlock()
	seen := map[int]bool{}
	var out []int
	for _, g := range groups {
		for _, p := range Related(g, []int{g}, nil) {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	for _, p := range pids {
		if !seen[p] && Alive(p) && t.owned(p) {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Ints(out)
	return out
}

// KillAll sends SIGKILL to every tracked group and to every tracked process
// that is still alive, waits up to two seconds for them to disappear, and
// returns the pids that are still alive afterwards (normally none).
func (t *Tracker) KillAll() []int {
	t.mu.Lock()
	for g := range t.groups {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	t.mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for {
		alive := t.Alive()
		for _, p := range alive {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// owned reports whether pid runs an executable under ExeDir (always true when
// ExeDir is empty).
func (t *Tracker) owned(pid int) bool {
	if t.ExeDir == "" {
		return true
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && strings.HasPrefix(exe, t.ExeDir)
}
