package overseer_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFDStoreSurvivesMasterKill: with Config.FDStore under a notify socket
// that keeps descriptors, the master hands its socket to the store. After
// SIGKILL of the master (its child drains: it lost its master) a new
// master started with the stored socket as LISTEN_FDS serves again, on the
// same socket, and no client meanwhile is refused.
func TestFDStoreSurvivesMasterKill(t *testing.T) {
	store := newFakeSystemd(t)
	s := startService(t, options{env: []string{"NOTIFY_SOCKET=" + store.path, "APP_FDSTORE=1"}})
	waitFor(t, 10*time.Second, "the socket in the store", func() bool { return store.get("overseer-0") != nil })
	l := startLoad(s.addr, 32, true, "/", 60*time.Second)
	p := startProbe(s.addr, 4, 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	child := s.mustGet("/").pid
	if err := syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	s.wait(10 * time.Second)
	waitGone(t, child, 15*time.Second)
	time.Sleep(200 * time.Millisecond) // nobody holds the socket but the store
	again := &service{t: t, dir: s.dir, bin: s.bin, addr: s.addr, logPath: s.logPath + ".again", done: make(chan struct{})}
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0"`, s.bin)
	cmd.Env = append(s.env(), "NOTIFY_SOCKET="+store.path, "APP_FDSTORE=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=overseer-0")
	cmd.ExtraFiles = []*os.File{store.get("overseer-0")}
	again.launch(cmd)
	back := time.Since(killed)
	time.Sleep(500 * time.Millisecond)
	l.stop()
	probes := p.stop()
	if failed, detail := l.failures(); failed > 0 {
		t.Errorf("%d keep-alive requests failed across the master's SIGKILL: %s", failed, detail)
	}
	if probes.failed() > 0 {
		t.Errorf("%d fresh-connection requests failed across the master's SIGKILL: %v", probes.failed(), probes.errs)
	}
	if !strings.Contains(again.log(), "fd_name=overseer-0") {
		t.Errorf("the new master did not take the stored socket by its name:\n%s", again.log())
	}
	ok, _ := l.counts()
	t.Logf("SIGKILL → new master serving: %s; %d keep-alive requests; fresh connections: %s", back.Round(time.Millisecond), ok, probes.describe("the gap", [][2]time.Time{{killed, killed.Add(back)}}))
}
