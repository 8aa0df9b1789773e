package overseer_test

import (
	"testing"
	"time"
)

// Every wait in these tests is one of the two below, so each is bounded,
// polls the same way and, when it fails, says what it was waiting for.

// waitFor polls cond until it returns true, and fails the test if it has
// not within timeout, naming what it waited for ("a new child after
// SIGUSR2"). cond may itself fail the test (a master that exited, say).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitUntil(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// waitUntil polls cond until it returns true or timeout has passed, and
// reports whether it returned true. cond runs at least once, and once more
// at the deadline. The first polls are a millisecond apart, so a timing
// measured with it is precise; later ones back off to pollMax, so a long
// wait costs little CPU. Use it where a timeout is not a failure, or where
// the failure message needs what cond saw last; otherwise use waitFor.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(interval, left))
		interval = min(2*interval, pollMax)
	}
}

// pollMax is the longest pause between two polls of waitUntil.
const pollMax = 10 * time.Millisecond
