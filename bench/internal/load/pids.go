package load

import (
	"sort"
	"sync"
	"time"
)

// PidSeen is what the driver learnt about one serving process.
type PidSeen struct {
	Pid int
	// First is when its first response arrived (since the load started).
	First time.Duration
	// Boot is the process's own start time (wall clock, Unix ns), as it
	// reported in a response header.
	Boot int64
	// Version is the app version it reported.
	Version string
}

// PidLog records the first response from every pid. It is safe for
// concurrent use.
type PidLog struct {
	// OnNew, when set, is called (outside the lock) with every pid the
	// first time it answers; the driver uses it to track pids for cleanup.
	OnNew func(pid int)

	mu   sync.Mutex
	seen map[int]PidSeen
}

// observe records a response from pid at time at; only the first counts.
func (l *PidLog) observe(pid int, at time.Duration, boot int64, version string) {
	l.mu.Lock()
	if l.seen == nil {
		l.seen = map[int]PidSeen{}
	}
	_, old := l.seen[pid]
	if !old {
		l.seen[pid] = PidSeen{Pid: pid, First: at, Boot: boot, Version: version}
	}
	l.mu.Unlock()
	if !old && l.OnNew != nil {
		l.OnNew(pid)
	}
}

// List returns every pid seen, ordered by first response.
func (l *PidLog) List() []PidSeen {
	l.mu.Lock()
	out := make([]PidSeen, 0, len(l.seen))
	for _, s := range l.seen {
		out = append(out, s)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].First < out[j].First })
	return out
}

// Pids returns every pid seen.
func (l *PidLog) Pids() []int {
	var out []int
	for _, s := range l.List() {
		out = append(out, s.Pid)
	}
	return out
}

// FirstAfter returns the pid whose first response came earliest after t,
// that is the first new process after a restart signalled at t.
func (l *PidLog) FirstAfter(t time.Duration) (PidSeen, bool) {
	for _, s := range l.List() {
		if s.First > t {
			return s, true
		}
	}
	return PidSeen{}, false
}

// NewestBefore returns the pid whose first response was the latest one
// before t: the process that was current when a restart was signalled at t.
func (l *PidLog) NewestBefore(t time.Duration) (PidSeen, bool) {
	var best PidSeen
	found := false
	for _, s := range l.List() {
		if s.First <= t {
			best, found = s, true
		}
	}
	return best, found
}
