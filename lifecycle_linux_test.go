package overseer_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExitCodeIsProxied: the master exits with its child's exit code.
func TestExitCodeIsProxied(t *testing.T) {
	s := startService(t, options{})
	_, _ = s.get("/exit?code=3")
	if code := s.wait(10 * time.Second); code != 3 {
		t.Fatalf("master exited %d, want 3", code)
	}
}

// TestChildKilledBySignal: a child killed by SIGKILL makes the master exit
// 128+9.
func TestChildKilledBySignal(t *testing.T) {
	s := startService(t, options{})
	pid := s.mustGet("/").pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(10 * time.Second); code != 137 {
		t.Fatalf("master exited %d, want 137", code)
	}
}

// TestSIGTERMDrainsAndExits: SIGTERM drains the child and the master exits
// 0 promptly, while a request is in flight.
func TestSIGTERMDrainsAndExits(t *testing.T) {
	for _, serve := range []string{"graceful", "shutdown", "plain"} {
		t.Run(serve, func(t *testing.T) {
			s := startService(t, options{env: []string{"APP_SERVE=" + serve}})
			pid := s.mustGet("/").pid
			slow := make(chan error, 1)
			go func() {
				_, err := s.get("/?sleep=500ms")
				slow <- err
			}()
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			s.signal(syscall.SIGTERM)
			if code := s.wait(10 * time.Second); code != 0 {
				t.Fatalf("master exited %d, want 0", code)
			}
			t.Logf("master exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
			if err := <-slow; err != nil {
				t.Errorf("in-flight request failed: %v", err)
			}
			if pidAlive(pid) {
				t.Errorf("child %d outlived the master", pid)
			}
		})
	}
}

// TestMasterKilledLeavesNoOrphans: SIGKILL to the master makes its
// children drain and exit.
func TestMasterKilledLeavesNoOrphans(t *testing.T) {
	s := startService(t, options{})
	pid := s.mustGet("/").pid
	if err := syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.wait(10 * time.Second)
	took := waitGone(t, pid, 10*time.Second)
	t.Logf("child exited %s after the master was killed", took.Round(time.Millisecond))
}

// TestSignalsForwarded: SIGHUP reaches the child; SIGWINCH and SIGPIPE do
// not (the test program exits 9 on SIGWINCH), and neither disturbs the
// master.
func TestSignalsForwarded(t *testing.T) {
	s := startService(t, options{})
	s.signal(syscall.SIGWINCH)
	s.signal(syscall.SIGPIPE)
	s.signal(syscall.SIGURG)
	s.signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "the child to count the forwarded SIGHUP", func() bool {
		b, err := s.getBody("/hups")
		if err != nil {
			t.Fatalf("service broken after signals: %v", err)
		}
		return strings.TrimSpace(b) == "1"
	})
}

// TestNoRestart: with NoRestart the restart signal drains and stops.
func TestNoRestart(t *testing.T) {
	s := startService(t, options{env: []string{"APP_NO_RESTART=1"}})
	s.signal(syscall.SIGUSR2)
	if code := s.wait(10 * time.Second); code != 0 {
		t.Fatalf("master exited %d, want 0", code)
	}
}

// TestManyRestartsLeakNothing: 200 restarts leave the master's descriptor
// and goroutine counts where they started.
func TestManyRestartsLeakNothing(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 20
	}
	stats := t.TempDir() + "/stats"
	s := startService(t, options{env: []string{"APP_MASTER_STATS=" + stats}})
	master := s.cmd.Process.Pid
	pid := s.mustGet("/").pid
	pid = s.restartAndWait(pid).pid // let lazily started runtime pieces settle
	waitChildren(t, master, 1)
	fds0, gr0 := countFDs(t, master), goroutines(t, stats)
	for i := 0; i < n; i++ {
		pid = s.restartAndWait(pid).pid
	}
	waitChildren(t, master, 1)
	time.Sleep(200 * time.Millisecond)
	fds1, gr1 := countFDs(t, master), goroutines(t, stats)
	t.Logf("after %d restarts: fds %d -> %d, goroutines %d -> %d", n, fds0, fds1, gr0, gr1)
	if fds1 != fds0 {
		t.Errorf("master fds %d -> %d", fds0, fds1)
	}
	if gr1 > gr0 {
		t.Errorf("master goroutines %d -> %d", gr0, gr1)
	}
}

// waitChildren waits until master has exactly n live children.
func waitChildren(t *testing.T, master, n int) {
	t.Helper()
	var got []int
	if !waitUntil(10*time.Second, func() bool { got = childPids(master); return len(got) == n }) {
		t.Fatalf("master %d has children %v after 10s, want %d", master, got, n)
	}
}

// goroutines reads the master's goroutine count written by the test
// program, as the smallest of a few readings, for the same reason as
// countFDs: a goroutine that lives for a moment (a timer firing, the
// memory release after a drain) is not a leak.
func goroutines(t *testing.T, path string) int {
	t.Helper()
	least := -1
	for i := 0; i < 3; i++ {
		time.Sleep(120 * time.Millisecond) // the program rewrites it every 50ms
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.Fields(string(b))[0])
		if err != nil {
			t.Fatal(err)
		}
		if least < 0 || n < least {
			least = n
		}
	}
	return least
}

// TestSIGTERMUnderLoadLosesNothing: stopping under load answers the
// connections already queued on the socket; later attempts are refused.
// One reset is tolerated: with the accept queue at its minimum the kernel
// still admits one connection, which can arrive between the last accept
// and the close.
func TestSIGTERMUnderLoadLosesNothing(t *testing.T) {
	for _, serve := range []string{"graceful", "plain"} {
		t.Run(serve, func(t *testing.T) {
			s := startService(t, options{env: []string{"APP_SERVE=" + serve}})
			l := startLoad(s.addr, 16, false, "/", 30*time.Second)
			time.Sleep(300 * time.Millisecond)
			s.signal(syscall.SIGTERM)
			if code := s.wait(10 * time.Second); code != 0 {
				t.Fatalf("master exited %d, want 0", code)
			}
			time.Sleep(100 * time.Millisecond)
			l.stop()
			l.mu.Lock()
			defer l.mu.Unlock()
			for class, n := range l.failed {
				if class != "refused" && !(class == "reset" && n == 1) {
					t.Errorf("%d requests failed with %s after SIGTERM (only refused, and one reset, are acceptable)", n, class)
				}
			}
			t.Logf("ok=%d failed=%v", l.ok, l.failed)
		})
	}
}
