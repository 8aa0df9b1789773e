package overseer

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// When the master runs as PID 1 (a container's entry point), the kernel
// makes it the parent of every orphaned process in the container, and
// their zombies pile up unless it reaps them. The master's own children
// are waited for by their own goroutines, so the reaper only takes zombies
// it did not start, and only once they have been zombies for a while, so
// that it never steals the exit status of a process it is about to
// register (see ownPids).

// ownPids are the processes this master started and waits for itself.
var ownPids = pidSet{pids: make(map[int]bool)}

// pidSet is a set of process IDs, safe for concurrent use.
type pidSet struct {
	mu   sync.Mutex
	pids map[int]bool
}

func (s *pidSet) add(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pids[pid] = true
}

func (s *pidSet) remove(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pids, pid)
}

func (s *pidSet) has(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pids[pid]
}

// reapMinAge is how long a zombie must have been seen before the reaper
// takes it.
const reapMinAge = time.Second

// startReaper reaps adopted zombies when this process is PID 1.
func startReaper(log *slog.Logger) {
	if os.Getpid() != 1 {
		return
	}
	log.Info("running as PID 1: reaping orphaned processes")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		seen := make(map[int]time.Time)
		tick := time.NewTicker(reapMinAge)
		defer tick.Stop()
		for {
			select {
			case <-sigs:
			case <-tick.C:
			}
			reapOrphans(seen, log)
		}
	}()
}

// reapOrphans waits for zombie children this process did not start and
// has seen as zombies for at least reapMinAge.
func reapOrphans(seen map[int]time.Time, log *slog.Logger) {
	now := time.Now()
	zombies := make(map[int]bool)
	for _, pid := range zombieChildren() {
		zombies[pid] = true
		if ownPids.has(pid) {
			continue
		}
		first, ok := seen[pid]
		if !ok {
			seen[pid] = now
			continue
		}
		if now.Sub(first) < reapMinAge {
			continue
		}
		var ws unix.WaitStatus
		if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && got == pid {
			log.Debug("reaped an orphaned process", "pid", pid, "status", ws.ExitStatus())
		}
		delete(seen, pid)
	}
	for pid := range seen {
		if !zombies[pid] {
			delete(seen, pid)
		}
	}
}

// zombieChildren lists this process's children that are zombies.
func zombieChildren() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := strconv.Itoa(os.Getpid())
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		fields := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
		if len(fields) > 1 && string(fields[0]) == "Z" && string(fields[1]) == self {
			out = append(out, pid)
		}
	}
	return out
}
