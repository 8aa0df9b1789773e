package service

import (
	"syscall"
	"time"
)

// TermResult is the outcome of stopping a service with SIGTERM.
type TermResult struct {
	// Took is the time from SIGTERM until every process of the service was
	// gone, or until the deadline when Killed is true.
	Took time.Duration
	// Killed is true when SIGTERM was not enough and SIGKILL was needed.
	Killed bool
	// Left is the number of processes still alive at the deadline.
	Left int
	// ExitCode is the first process's exit code (-1 if killed by a signal).
	ExitCode int
}

// Terminate sends SIGTERM to TermTarget and waits until the first process has
// exited and no related process (group member, child of the first process,
// or a pid in served) is alive. After deadline it counts the survivors,
// kills them all with SIGKILL and reports Killed.
func (s *Service) Terminate(deadline time.Duration, served []int) TermResult {
	start := time.Now()
	select {
	case <-s.exited:
		// The first process is gone (and its pid may be reused): signal
		// what is left of its process group instead.
		_ = syscall.Kill(-s.Pid, syscall.SIGTERM)
	default:
		_ = syscall.Kill(s.TermTarget(), syscall.SIGTERM)
	}
	for {
		firstGone := false
		select {
		case <-s.exited:
			firstGone = true
		default:
		}
		if firstGone && len(s.Related(served)) == 0 {
			return TermResult{Took: time.Since(start), ExitCode: s.ExitCode()}
		}
		if took := time.Since(start); took > deadline {
			left := s.Related(served)
			n := len(left)
			if !firstGone {
				found := false
				for _, p := range left {
					found = found || p == s.Pid
				}
				if !found {
					n++
				}
			}
			s.Kill(served)
			select {
			case <-s.exited:
			case <-time.After(2 * time.Second):
			}
			return TermResult{Took: took, Killed: true, Left: n, ExitCode: s.ExitCode()}
		}
		time.Sleep(2 * time.Millisecond)
	}
}
