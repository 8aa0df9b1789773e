package overseer_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The release on probation, with real processes: a release that becomes
// ready and then fails is rolled back under the same master PID, with no
// failed or refused request; a master that dies during probation rolls
// the release back when it starts again.

// TestProbationCrashRollsBack: v2 becomes ready, serves, and exits 3 a
// second later. The master puts v1 back on disk, quarantines v2 and starts
// a v1 child; 32 keep-alive clients see no failure, and the master's PID
// never changes.
func TestProbationCrashRollsBack(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events")
	s := startService(t, options{watch: true, env: []string{"APP_PROBATION=30s", "APP_CRASH_AFTER=1s", "APP_EVENTS_FILE=" + events}})
	v1 := fileHash(t, s.bin)
	master := s.cmd.Process.Pid
	l := startLoad(s.addr, 32, true, "/", 60*time.Second)
	s.publish("crashlater")
	s.waitServing("crashlater", 20*time.Second)
	crashed := time.Now()
	s.waitLog("upgrade rolled back", 20*time.Second)
	s.waitServing("v1", 20*time.Second)
	back := time.Since(crashed)
	time.Sleep(300 * time.Millisecond)
	l.stop()
	if failed, detail := l.failures(); failed > 0 {
		t.Errorf("%d requests failed across the crash and the rollback: %s", failed, detail)
	}
	if got := fileHash(t, s.bin); got != v1 {
		t.Errorf("binary on disk is %s after the rollback, want v1 %s", got[:12], v1[:12])
	}
	if s.cmd.Process.Pid != master || !processAlive(master) {
		t.Errorf("the master changed or died")
	}
	state := readState(t, s.dir)
	if bad := fileHash(t, filepath.Join(binDir, "crashlater")); !strings.Contains(state, bad) {
		t.Errorf("crashed release %s not quarantined in the state file:\n%s", bad[:12], state)
	}
	if strings.Contains(state, `"probation"`) {
		t.Errorf("probation left in the state file after the rollback:\n%s", state)
	}
	if !strings.Contains(strings.Join(eventKinds(events), " "), "upgrade-rolled-back") {
		t.Errorf("no upgrade-rolled-back event: %v", eventKinds(events))
	}
	t.Logf("publish of the crashing release → v1 serving again, measured by the client: %s (includes the 1s it serves)", back.Round(time.Millisecond))
	if exited, ready, ok := rollbackSpan(events); ok {
		t.Logf("crash → child of v1 ready (the master's events): %s", ready.Sub(exited).Round(time.Microsecond))
	} else {
		t.Errorf("events do not show a crash followed by a ready child: %v", eventKinds(events))
	}
	// The quarantined release is not applied again.
	s.publish("v2")
	s.waitServing("v2", 20*time.Second)
	s.publish("crashlater")
	time.Sleep(1500 * time.Millisecond)
	if r := s.mustGet("/"); r.version != "v2" {
		t.Errorf("serving %s after the quarantined release was published again", r.version)
	}
}

// TestProbationHealthCheckRollsBack: a release that accepts connections
// but answers 500 on its health check is rolled back; clients of "/" see
// no failure meanwhile.
func TestProbationHealthCheckRollsBack(t *testing.T) {
	s := startService(t, options{watch: true, env: []string{"APP_PROBATION=30s", "APP_HEALTH_PATH=/healthz"}})
	l := startLoad(s.addr, 8, true, "/", 60*time.Second)
	s.publish("unhealthy")
	s.waitServing("unhealthy", 20*time.Second)
	s.waitLog("its health check failed 3 times in a row", 20*time.Second)
	s.waitServing("v1", 20*time.Second)
	l.stop()
	if failed, detail := l.failures(); failed > 0 {
		t.Errorf("%d requests failed: %s", failed, detail)
	}
	if got, want := fileHash(t, s.bin), fileHash(t, filepath.Join(binDir, "v1")); got != want {
		t.Errorf("binary on disk is %s, want v1", got[:12])
	}
}

// TestProbationProven: a healthy release finishes its probation; a crash
// after that is the service's own (the master exits with its code), as a
// crash of any proven release.
func TestProbationProven(t *testing.T) {
	s := startService(t, options{watch: true, env: []string{"APP_PROBATION=1s", "APP_HEALTH_PATH=/healthz"}})
	s.publish("v2")
	s.waitServing("v2", 20*time.Second)
	s.waitLog("release proven", 20*time.Second)
	if state := readState(t, s.dir); strings.Contains(state, `"probation"`) {
		t.Errorf("probation left in the state file after proof:\n%s", state)
	}
	_, _ = s.get("/exit?code=5")
	if code := s.wait(15 * time.Second); code != 5 {
		t.Errorf("master exited with %d, want the proven child's 5", code)
	}
}

// TestMasterKilledDuringUpgrade: the master is stopped at each step of an
// upgrade, and a master started again on the same directory puts things
// right before its first child:
//
//   - staged (SIGKILL during the sanity check): the staging file is removed;
//   - pending (SIGKILL after install, its child never ready): rolled back;
//   - probation (SIGKILL): rolled back;
//   - probation (SIGTERM, a clean stop): the probation starts again.
func TestMasterKilledDuringUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name    string
		publish string
		reached func(s *service)
		stop    syscall.Signal
		after   string
		log     string
	}{
		{"staged, SIGKILL", "hangcheck", func(s *service) {
			waitFor(t, 20*time.Second, "a staging file", func() bool { return len(stagingFiles(s.dir)) > 0 })
		}, syscall.SIGKILL, "v1", "removed staging files left by an interrupted upgrade"},
		{"pending, SIGKILL", "noready", func(s *service) {
			s.waitLog("restart begun", 20*time.Second)
		}, syscall.SIGKILL, "v1", "the master died during its probation"},
		{"probation, SIGKILL", "v2", func(s *service) {
			s.waitServing("v2", 20*time.Second)
			s.waitLog("release on probation", 10*time.Second)
		}, syscall.SIGKILL, "v1", "the master died during its probation"},
		{"probation, SIGTERM", "v2", func(s *service) {
			s.waitServing("v2", 20*time.Second)
			s.waitLog("release on probation", 10*time.Second)
		}, syscall.SIGTERM, "v2", "its probation starts again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startService(t, options{watch: true, env: []string{"APP_PROBATION=60s", "APP_READY_TIMEOUT=60s", "APP_CHECK_TIMEOUT=60s"}})
			s.publish(tc.publish)
			tc.reached(s)
			s.signal(tc.stop)
			s.wait(15 * time.Second)
			waitFor(t, 15*time.Second, "the old service's processes to exit", func() bool { return !groupAlive(s.cmd.Process.Pid) })
			again := s.restart(t)
			again.waitServing(tc.after, 20*time.Second)
			again.waitLog(tc.log, 10*time.Second)
			if got, want := fileHash(t, s.bin), fileHash(t, filepath.Join(binDir, tc.after)); got != want {
				t.Errorf("binary on disk is %s, want %s", got[:12], tc.after)
			}
			if left := stagingFiles(s.dir); len(left) > 0 {
				t.Errorf("staging files left: %v", left)
			}
		})
	}
}

// stagingFiles lists the upgrade staging files beside the service's binary.
func stagingFiles(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, ".app.overseer-new-*"))
	return m
}

// rollbackSpan finds, in the events file, the exit of the child that
// failed its probation and the ready of the child that replaced it.
func rollbackSpan(path string) (exited, ready time.Time, ok bool) {
	b, _ := os.ReadFile(path)
	var lastExit time.Time
	rolledBack := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var at time.Time
		for _, kv := range f {
			if v, found := strings.CutPrefix(kv, "time="); found {
				if us, err := strconv.ParseInt(v, 10, 64); err == nil {
					at = time.UnixMicro(us)
				}
			}
		}
		switch {
		case f[0] == "child-exited" && !rolledBack:
			lastExit = at
		case f[0] == "upgrade-rolled-back":
			rolledBack = true
		case f[0] == "child-ready" && rolledBack:
			return lastExit, at, !lastExit.IsZero()
		}
	}
	return time.Time{}, time.Time{}, false
}

// readState returns the release state file beside the service's binary.
func readState(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".app.overseer-state"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// processAlive reports whether pid exists.
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestSanityCheckDiesWithMaster: a sanity check under way when the master
// is SIGKILLed is killed with it, not left behind as an orphan.
func TestSanityCheckDiesWithMaster(t *testing.T) {
	s := startService(t, options{watch: true, env: []string{"APP_CHECK_TIMEOUT=60s"}})
	s.publish("hangcheck")
	var check int
	waitFor(t, 20*time.Second, "the sanity check of the published binary to run", func() bool {
		for _, pid := range runningFrom(s.dir) {
			if exe, err := proc(pid).exe(); err == nil && strings.Contains(exe, ".overseer-new-") {
				check = pid
				return true
			}
		}
		return false
	})
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.wait(10 * time.Second)
	waitFor(t, 10*time.Second, "the sanity check to die with its master", func() bool { return !proc(check).alive() })
}
