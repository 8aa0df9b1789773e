// Package round runs one benchmark round: one variant, one setting, a fixed
// number of evenly spaced restarts under load, then SIGTERM; and it derives
// every reported figure from what it observed.
package round

import (
	"time"

	"github.com/seed-710818af/overseer/bench/internal/load"
	"github.com/seed-710818af/overseer/bench/internal/service"
)

// Setting is the client behaviour of a round.
type Setting struct {
	KeepAlive bool
	// Sleep is the ?sleep= each request asks the handler for.
	Sleep time.Duration
	// Post sends POSTs whose body Go's transport cannot replay (so it
	// cannot silently retry them) instead of GETs.
	Post bool
}

// String renders the setting for logs.
func (s Setting) String() string {
	ka := "off"
	if s.KeepAlive {
		ka = "on"
	}
	return s.Method() + ", keep-alive " + ka + ", sleep " + s.Sleep.String()
}

// Method is the request method of the setting: "GET" or "POST".
func (s Setting) Method() string {
	if s.Post {
		return "POST"
	}
	return "GET"
}

// Restart is what happened after one restart signal.
type Restart struct {
	// Signal is when the signal was sent, since the load started.
	Signal time.Duration
	// OldPid is the process that was current at the signal.
	OldPid int
	// NewPid is the first process that answered after the signal (0: none).
	NewPid int
	// Handover is signal → first response from NewPid (valid if NewPid>0).
	Handover time.Duration
	// StartUp is signal → NewPid's own start (its reported boot time).
	StartUp time.Duration
	// Drain is signal → OldPid gone; when Drained is false it is the time
	// watched before giving up (a lower bound).
	Drain   time.Duration
	Drained bool
	// Repeat is true when OldPid was already the old process of an earlier
	// restart (the library had not handed over yet); such a restart is left
	// out of the drain and hang figures so one hung process counts once.
	Repeat bool

	wall time.Time // wall clock of the signal, for StartUp
}

// Result is everything measured in one round.
type Result struct {
	Variant service.Variant
	Setting Setting
	// Err is set when the round could not run (build, start-up).
	Err error

	// Counts are requests that completed before SIGTERM was sent.
	Counts load.Counts
	// AtTerm are requests still in flight when SIGTERM was sent.
	AtTerm load.Counts
	// Latencies of successful requests (OK and Retried) before SIGTERM.
	Latencies []time.Duration
	// Samples are all requests, for the latency plot.
	Samples []load.Sample
	// Errors and TermErrors are a few example messages per failure class,
	// before and after SIGTERM.
	Errors, TermErrors map[load.Class][]string
	// TermAt is when SIGTERM was sent, since the load started.
	TermAt time.Duration

	Restarts []Restart
	// Served is the number of distinct pids that answered; Started is the
	// number of service processes seen running (children of the master, or
	// members of the process group for tableflip), the first one included.
	Served, Started int
	// HangAfter is the drain time beyond which a restart counts as hung.
	HangAfter time.Duration

	// MasterRSS and ChildRSS are VmRSS in KiB at the end of the load
	// (MasterRSS is 0 for variants without a master). IdleRSS is the
	// serving process's VmRSS before the load started. MasterThreads is
	// the master's thread count then.
	MasterRSS, ChildRSS, IdleRSS int
	MasterThreads                int

	Term service.TermResult
	// Died is set when the service's long-lived first process (the master,
	// or the plain server) exited on its own before SIGTERM; DiedHow is its
	// exit status.
	Died    bool
	DiedHow string
}

// Hangs is the number of restarts whose old process was still alive
// HangAfter after the signal.
func (r *Result) Hangs() int {
	n := 0
	for _, rs := range r.Restarts {
		if rs.OldPid > 0 && !rs.Repeat && rs.Drain >= r.HangAfter {
			n++
		}
	}
	return n
}
