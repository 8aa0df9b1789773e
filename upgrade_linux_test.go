package overseer_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpgradeWithFileFetcher: a binary published to the watched path is
// installed and takes over under load, twice, without a failed request.
func TestUpgradeWithFileFetcher(t *testing.T) {
	s := startService(t, options{watch: true})
	v1 := fileHash(t, s.bin)
	l := startLoad(s.addr, 8, true, "/", 60*time.Second)
	s.publish("v2")
	s.waitServing("v2", 20*time.Second)
	if got, want := fileHash(t, s.bin), fileHash(t, filepath.Join(binDir, "v2")); got != want {
		t.Errorf("binary on disk is %s, want v2 %s", got[:12], want[:12])
	}
	if got := fileHash(t, filepath.Join(s.dir, ".app.overseer-prev")); got != v1 {
		t.Errorf("backup is %s, want v1 %s", got[:12], v1[:12])
	}
	s.publish("v3")
	s.waitServing("v3", 20*time.Second)
	time.Sleep(100 * time.Millisecond)
	l.stop()
	if failed, detail := l.failures(); failed > 0 {
		t.Errorf("%d requests failed during the upgrades: %s", failed, detail)
	}
	if b := s.mustGetBody("/state"); !strings.Contains(b, "enabled=true") {
		t.Errorf("state: %s", b)
	}
	assertNoStagingFiles(t, s.dir)
}

// TestBadBinariesAreRejected: each kind of bad binary is rejected with a
// clear log line; the service keeps serving v1 and v1 stays on disk.
func TestBadBinariesAreRejected(t *testing.T) {
	v2, err := os.ReadFile(filepath.Join(binDir, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		publish func(s *service)
		log     string
	}{
		{"not-executable", func(s *service) { s.publishBytes([]byte("#!garbage\x00\x01\x02 this is not a program")) }, "failed its sanity check"},
		{"truncated", func(s *service) { s.publishBytes(v2[:len(v2)/2]) }, "failed its sanity check"},
		{"exits-non-zero", func(s *service) { s.publish("failcheck") }, "exit status 2"},
		{"never-answers", func(s *service) { s.publish("hangcheck") }, "did not answer within 1s"},
		{"empty", func(s *service) { s.publishBytes(nil) }, "the fetched binary is empty"},
		{"other-architecture", func(s *service) { s.publish("otherarch") }, "exec format error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startService(t, options{watch: true, env: []string{"APP_CHECK_TIMEOUT=1s"}})
			v1 := fileHash(t, s.bin)
			c.publish(s)
			s.waitLog(c.log, 20*time.Second)
			if got := fileHash(t, s.bin); got != v1 {
				t.Errorf("binary on disk changed to %s", got[:12])
			}
			if r := s.mustGet("/"); r.version != "v1" {
				t.Errorf("serving %s after a rejected upgrade", r.version)
			}
			if strings.Contains(s.log(), "restart begun") {
				t.Errorf("a rejected binary was started")
			}
			assertNoStagingFiles(t, s.dir)
		})
	}
}

// TestCrashingUpgradeIsRolledBack: a binary that passes the check but
// crashes as a child is rolled back and quarantined.
func TestCrashingUpgradeIsRolledBack(t *testing.T) {
	s := startService(t, options{watch: true})
	v1 := fileHash(t, s.bin)
	old := s.mustGet("/").pid
	s.publish("crash")
	s.waitLog("upgrade rolled back", 20*time.Second)
	if got := fileHash(t, s.bin); got != v1 {
		t.Errorf("binary on disk is %s after the rollback, want v1 %s", got[:12], v1[:12])
	}
	if r := s.mustGet("/"); r.pid != old || r.version != "v1" {
		t.Errorf("serving %v after the rollback, want v1 from %d", r, old)
	}
	// Publishing the same binary again does not apply it again.
	now := time.Now()
	if err := os.Chtimes(filepath.Join(s.dir, "next"), now, now); err != nil {
		t.Fatal(err)
	}
	s.waitLog("quarantined; skipping", 20*time.Second)
	if n := strings.Count(s.log(), "restart begun"); n != 1 {
		t.Errorf("%d restarts, want 1: the quarantined binary was tried again", n)
	}
	// A good binary after it is applied.
	s.publish("v2")
	s.waitServing("v2", 20*time.Second)
}

// TestNoisyBinaryPassesCheck: a program that prints before Run passes the
// sanity check (its output cannot corrupt the answer).
func TestNoisyBinaryPassesCheck(t *testing.T) {
	s := startService(t, options{watch: true})
	s.publish("noisy")
	s.waitServing("noisy", 20*time.Second)
}

// TestSymlinkDeployment: running through a symlink, an upgrade replaces
// the file the link points to and leaves the link in place.
func TestSymlinkDeployment(t *testing.T) {
	s := startService(t, options{watch: true, symlink: true})
	s.publish("v2")
	s.waitServing("v2", 20*time.Second)
	link := filepath.Join(s.dir, "current")
	info, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symlink", link)
	}
	if target, _ := os.Readlink(link); target != s.bin {
		t.Errorf("link points to %s, want %s", target, s.bin)
	}
	if got, want := fileHash(t, s.bin), fileHash(t, filepath.Join(binDir, "v2")); got != want {
		t.Errorf("link target is not v2")
	}
	if b := s.mustGetBody("/state"); !strings.Contains(b, "binpath="+s.bin) {
		t.Errorf("State.BinPath: %s", b)
	}
}

// TestNoRestartAfterFetch: the new binary is installed but runs only at
// the next restart.
func TestNoRestartAfterFetch(t *testing.T) {
	s := startService(t, options{watch: true, env: []string{"APP_NO_RESTART_AFTER_FETCH=1"}})
	old := s.mustGet("/").pid
	s.publish("v2")
	s.waitLog("upgrade installed", 20*time.Second)
	time.Sleep(200 * time.Millisecond)
	if r := s.mustGet("/"); r.version != "v1" {
		t.Fatalf("serving %s before a restart", r.version)
	}
	if r := s.restartAndWait(old); r.version != "v2" {
		t.Fatalf("serving %s after the restart, want v2", r.version)
	}
}

// TestPreUpgradeVeto: an error from PreUpgrade cancels the upgrade.
func TestPreUpgradeVeto(t *testing.T) {
	veto := filepath.Join(t.TempDir(), "veto")
	if err := os.WriteFile(veto, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startService(t, options{watch: true, env: []string{"APP_PRE_UPGRADE_MARK=" + veto}})
	v1 := fileHash(t, s.bin)
	s.publish("v2")
	s.waitLog("cancelled by PreUpgrade", 20*time.Second)
	if fileHash(t, s.bin) != v1 {
		t.Error("binary on disk changed")
	}
	if r := s.mustGet("/"); r.version != "v1" {
		t.Errorf("serving %s", r.version)
	}
	s.signal(syscall.SIGTERM)
	s.wait(10 * time.Second)
	assertNoStagingFiles(t, s.dir)
}

// TestFullDiskKeepsServing: a binary that does not fit on the disk is not
// installed, leaves nothing behind and is not held against the release;
// once there is room, the same release is fetched again and installed.
func TestFullDiskKeepsServing(t *testing.T) {
	const room = 256 << 10
	s := startService(t, options{watch: true, diskFree: room})
	disk := filepath.Dir(s.bin)
	v1 := fileHash(t, s.bin)
	s.publish("v2")
	s.waitLog("the disk is full", 20*time.Second)
	if got := fileHash(t, s.bin); got != v1 {
		t.Errorf("binary on disk changed after a failed upgrade")
	}
	if r := s.mustGet("/"); r.version != "v1" {
		t.Errorf("serving %s after a failed upgrade, want v1", r.version)
	}
	assertNoStagingFiles(t, disk)
	if strings.Contains(s.log(), "quarantined") {
		t.Errorf("a release that did not fit on the disk was quarantined")
	}

	size := fileSize(t, s.bin)
	resizeDisk(t, disk, 3*size+room) // the new binary, and the old one kept for rollback
	s.waitServing("v2", 60*time.Second)
	if got, want := fileHash(t, s.bin), fileHash(t, filepath.Join(binDir, "v2")); got != want {
		t.Errorf("binary on disk is %s, want v2 %s", got[:12], want[:12])
	}
	assertNoStagingFiles(t, disk)
	t.Logf("full-disk attempts logged: %d", strings.Count(s.log(), "the disk is full"))
}

// assertNoStagingFiles fails if an upgrade left a staging file behind.
func assertNoStagingFiles(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".overseer-new-") {
			t.Errorf("staging file left behind: %s", e.Name())
		}
	}
}
