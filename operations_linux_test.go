package overseer_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify: READY=1 once the first child is ready, RELOADING=1
// then READY=1 around a restart, STOPPING=1 at SIGTERM, WATCHDOG=1 at half
// WATCHDOG_USEC, and none of it leaks into the child's environment.
func TestSystemdNotify(t *testing.T) {
	n := newFakeSystemd(t)
	start := time.Now()
	s := startService(t, options{env: []string{"NOTIFY_SOCKET=" + n.path, "WATCHDOG_USEC=200000"}})
	ready := n.waitFor(t, 0, "READY=1", "STATUS=serving binary")
	t.Logf("READY=1 %s after the master started", time.Since(start).Round(time.Millisecond))
	for _, key := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC"} {
		if b := s.mustGetBody("/env?key=" + key); strings.TrimSpace(b) != key+"=" {
			t.Errorf("child environment has %s", b)
		}
	}
	old := s.mustGet("/").pid
	s.restartAndWait(old)
	reload := n.waitFor(t, ready+1, "RELOADING=1", "MONOTONIC_USEC=")
	n.waitFor(t, reload+1, "READY=1")
	time.Sleep(300 * time.Millisecond)
	watchdogs := 0
	for _, m := range n.all() {
		if m == "WATCHDOG=1" {
			watchdogs++
		}
	}
	if watchdogs < 2 {
		t.Errorf("%d WATCHDOG=1 in %s with WATCHDOG_USEC=200000", watchdogs, time.Since(start).Round(time.Millisecond))
	}
	before := len(n.all())
	s.signal(syscall.SIGTERM)
	s.wait(10 * time.Second)
	n.waitFor(t, before, "STOPPING=1")
}

// TestLifecycleEvents: OnEvent sees a restart and an upgrade, in order.
func TestLifecycleEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events")
	s := startService(t, options{watch: true, env: []string{"APP_EVENTS_FILE=" + path}})
	want := []string{
		"child-started", "child-ready", // first child
		"child-started", "restart-begun", "child-ready", "restart-completed", "child-draining", "child-exited", // SIGUSR2
		"upgrade-found", "upgrade-verified", "upgrade-applied", "child-started", "restart-begun", "child-ready", "restart-completed", "child-draining", "child-exited",
	}
	// The first child's ready reaches the master on its own channel: wait
	// for it, so that the restart's events follow it.
	waitFor(t, 10*time.Second, "the first child's ready event", func() bool { return len(eventKinds(path)) >= 2 })
	old := s.mustGet("/").pid
	s.restartAndWait(old)
	waitGone(t, old, 10*time.Second) // so the upgrade's events follow the restart's
	s.publish("v2")
	s.waitServing("v2", 20*time.Second)
	waitUntil(10*time.Second, func() bool { return len(eventKinds(path)) >= len(want) })
	time.Sleep(100 * time.Millisecond) // room for an unexpected extra event to show
	kinds := eventKinds(path)
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Errorf("events:\n got %v\nwant %v", kinds, want)
	}
}

// eventKinds lists the kinds of the events the test program wrote to path,
// one per line.
func eventKinds(path string) []string {
	b, _ := os.ReadFile(path)
	var kinds []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			kinds = append(kinds, f[0])
		}
	}
	return kinds
}

// TestCrashPolicy: a crashed child is replaced on the held sockets, with
// the master's pid unchanged; a binary that keeps crashing at start makes
// the master give up with its exit code.
func TestCrashPolicy(t *testing.T) {
	s := startService(t, options{env: []string{"APP_CRASH_POLICY=1"}})
	old := s.mustGet("/").pid
	time.Sleep(700 * time.Millisecond) // past StartPeriod: a crash, not a failed start
	l := startLoad(s.addr, 4, false, "/", 30*time.Second)
	_, _ = s.get("/exit?code=3")
	r := s.waitServing("v1", 10*time.Second)
	if r.pid == old {
		t.Fatalf("still served by the crashed child %d", old)
	}
	time.Sleep(100 * time.Millisecond)
	l.stop()
	l.mu.Lock()
	if n := l.failed["refused"]; n > 0 {
		t.Errorf("%d connections refused while no child ran: the sockets must stay open", n)
	}
	t.Logf("during the crash: ok=%d failed=%v", l.ok, l.failed)
	l.mu.Unlock()
	s.waitLog("child crashed; starting a new one", 5*time.Second)

	s.replaceBinary("crash") // exits 7 at every start
	time.Sleep(700 * time.Millisecond)
	_, _ = s.get("/exit?code=3")
	if code := s.wait(20 * time.Second); code != 7 {
		t.Fatalf("master exited %d after repeated failed starts, want 7", code)
	}
	// One start after the first crash (it serves), then three failed starts
	// of the crashing binary: MaxFailedStarts=2 tolerated, the third ends it.
	if n := strings.Count(s.log(), "child started after a crash"); n != 4 {
		t.Errorf("%d starts after crashes, want 4", n)
	}
}
