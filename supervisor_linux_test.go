package overseer_test

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the test program the way supervisord deployments do: a
// real supervisord (Debian's package) with [program:app], driven by
// supervisorctl. supervisord must see one process that stays RUNNING
// under the same pid through restarts and upgrades, stops cleanly within
// stopwaitsecs, and exits with the child's code when the child ends.
//
// Log lines relied on (supervisor 4.2.5, supervisor/process.py):
//   "spawned: 'app' with pid N"
//   "stopped: app (exit status 0)"            a stop request, clean exit
//   "exited: app (exit status 3; not expected)" an exit nobody asked for

// TestSupervisorSignalRestarts restarts the program with
// "supervisorctl signal USR2" under keep-alive load.
func TestSupervisorSignalRestarts(t *testing.T) {
	s := startSupervised(t, supervisordOptions{})
	master := s.masterPid()
	first := s.mustGet("/")
	if first.pid == master || !slices.Contains(childPids(master), first.pid) {
		t.Fatalf("serving pid %d is not a child of the master %d (children %v)", first.pid, master, childPids(master))
	}

	l := startLoad(s.addr, 8, true, "/", time.Minute)
	defer l.stop()
	seen := []int{master, first.pid}
	old := first.pid
	for i := 0; i < 3; i++ {
		s.mustCtl("signalled", "signal", "USR2", "app")
		r := s.waitNewChild(seen)
		if !slices.Contains(childPids(master), r.pid) {
			t.Fatalf("restart %d: new pid %d is not a child of the master %d", i+1, r.pid, master)
		}
		// The old child drains and exits long before TerminateTimeout (8 s).
		d := waitGone(t, old, 6*time.Second)
		t.Logf("restart %d: child %d -> %d, old child gone %s after the new one served", i+1, old, r.pid, d.Round(time.Millisecond))
		seen = append(seen, r.pid)
		old = r.pid
		time.Sleep(200 * time.Millisecond) // some load on the new child
	}
	l.stop()

	if n, desc := l.failures(); n > 0 {
		t.Errorf("%d requests failed during restarts under supervisord: %s", n, desc)
	}
	if ok, _ := l.counts(); ok == 0 {
		t.Errorf("no request succeeded")
	}
	if state, pid := s.state(); state != "RUNNING" || pid != master {
		t.Errorf("supervisorctl status: %s pid %d, want RUNNING pid %d", state, pid, master)
	}
	if kids := childPids(master); len(kids) != 1 || kids[0] != old {
		t.Errorf("master's children %v, want only %d", kids, old)
	}
	s.assertNoExit()
}

// TestSupervisorUpgrade publishes v2 to the watched path: the program
// upgrades itself while supervisord keeps seeing the same RUNNING pid.
func TestSupervisorUpgrade(t *testing.T) {
	s := startSupervised(t, supervisordOptions{watch: true})
	master := s.masterPid()
	if r := s.mustGet("/"); r.version != "v1" {
		t.Fatalf("serving %q, want v1", r.version)
	}

	l := startLoad(s.addr, 4, true, "/", time.Minute)
	defer l.stop()
	s.publish("v2")
	r := s.waitServing("v2", 30*time.Second)
	time.Sleep(200 * time.Millisecond)
	l.stop()

	if !slices.Contains(childPids(master), r.pid) {
		t.Errorf("v2 pid %d is not a child of the master %d", r.pid, master)
	}
	if n, desc := l.failures(); n > 0 {
		t.Errorf("%d requests failed during the upgrade under supervisord: %s", n, desc)
	}
	if state, pid := s.state(); state != "RUNNING" || pid != master {
		t.Errorf("supervisorctl status: %s pid %d, want RUNNING pid %d", state, pid, master)
	}
	if got, want := fileHash(t, s.bin), fileHash(t, binDir+"/v2"); got != want {
		t.Errorf("the binary supervisord runs is not v2 after the upgrade")
	}
	s.assertNoExit()
}

// TestSupervisorStop stops the program with "supervisorctl stop", idle and
// with a request in flight: master and child exit 0 after the drain, well
// within stopwaitsecs, and nothing is left behind.
func TestSupervisorStop(t *testing.T) {
	s := startSupervised(t, supervisordOptions{})

	// Idle.
	master, child := s.masterPid(), s.mustGet("/").pid
	took, gone := s.stopAndMeasure(master, child)
	t.Logf("idle: supervisorctl stop returned after %s; SIGTERM -> master and child gone: %s", took.Round(time.Millisecond), gone.Round(time.Millisecond))
	if gone > 3*time.Second {
		t.Errorf("idle stop took %s, want well under stopwaitsecs (10s)", gone)
	}
	s.waitSupervisordLog("stopped: app (exit status 0)", 5*time.Second)

	// Start it again (same port: the master opens it afresh), then stop
	// with a 1 s request in flight, queued before the stop.
	s.mustCtl("started", "start", "app")
	s.waitState("RUNNING", 15*time.Second)
	s.waitServing("v1", 15*time.Second)
	master, child = s.masterPid(), s.mustGet("/").pid
	reply := s.slowRequest(time.Second)
	took, gone = s.stopAndMeasure(master, child)
	t.Logf("1s request in flight: supervisorctl stop returned after %s; SIGTERM -> master and child gone: %s", took.Round(time.Millisecond), gone.Round(time.Millisecond))
	if gone > 4*time.Second {
		t.Errorf("stop with a 1s request in flight took %s, want well under stopwaitsecs (10s)", gone)
	}
	select {
	case got := <-reply:
		if !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.Contains(got, "v1 ") {
			t.Errorf("request in flight during the stop got %q", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("request in flight during the stop: no answer in 15s")
	}

	log := s.supervisordLog()
	if n := strings.Count(log, "stopped: app (exit status 0)"); n != 2 {
		t.Errorf("supervisord logged %d clean stops, want 2\n%s", n, s.logs())
	}
	for _, bad := range []string{"SIGKILL", "exited: app", "not expected"} {
		if strings.Contains(log, bad) {
			t.Errorf("supervisord's log contains %q\n%s", bad, s.logs())
		}
	}
	if state, _ := s.state(); state != "STOPPED" {
		t.Errorf("supervisorctl status: %s, want STOPPED", state)
	}
}

// TestSupervisorChildCrash lets the child exit on its own: the master ends
// with the child's exit code, which supervisord reports; a child killed by
// a signal shows as 128+N.
func TestSupervisorChildCrash(t *testing.T) {
	s := startSupervised(t, supervisordOptions{})
	master, child := s.masterPid(), s.mustGet("/").pid

	_, _ = s.getBody("/exit?code=3") // the child exits without answering
	waitGone(t, child, 10*time.Second)
	waitGone(t, master, 10*time.Second)
	s.waitSupervisordLog("exited: app (exit status 3; not expected)", 10*time.Second)
	if state, _ := s.state(); state != "EXITED" {
		t.Errorf("supervisorctl status: %s, want EXITED", state)
	}
	if left := s.processes(); len(left) > 0 {
		t.Fatalf("processes left after the child exited 3: %v", left)
	}

	// Killed by SIGKILL: the master exits 128+9.
	s.mustCtl("started", "start", "app")
	s.waitState("RUNNING", 15*time.Second)
	master, child = s.masterPid(), s.mustGet("/").pid
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, master, 10*time.Second)
	s.waitSupervisordLog("exited: app (exit status 137; not expected)", 10*time.Second)
	if left := s.processes(); len(left) > 0 {
		t.Fatalf("processes left after the child was killed: %v", left)
	}
	if log := s.supervisordLog(); strings.Contains(log, "stopped: app") {
		t.Errorf("supervisord's log shows a stop nobody asked for\n%s", s.logs())
	}
}
