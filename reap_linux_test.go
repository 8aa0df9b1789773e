package overseer_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReapsOrphansAsPID1: run as PID 1 of a new PID namespace (as in a
// container), the master reaps orphaned processes its child's program
// left behind, and still proxies the exit code.
func TestReapsOrphansAsPID1(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to create a PID namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs util-linux unshare")
	}
	dir := serviceDir(t, "reap-")
	bin := filepath.Join(dir, "app")
	copyFile(t, filepath.Join(binDir, "v1"), bin)
	addr := freeAddr(t)
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", bin)
	cmd.Env = append(os.Environ(), "APP_ADDR="+addr, "APP_DEBUG=1", "APP_TERMINATE_TIMEOUT=5s")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("unshare did not exit")
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Logf("log:\n%s", b)
		}
	}()
	s := &service{t: t, addr: addr, logPath: filepath.Join(dir, "log"), done: done}
	s.waitServing("v1", 15*time.Second)
	master := 0
	for _, pid := range childPids(cmd.Process.Pid) {
		master = pid // unshare's only child: the master, PID 1 inside
	}
	if master == 0 {
		t.Fatal("no master under unshare")
	}
	for i := 0; i < 3; i++ {
		s.mustGetBody("/orphan")
	}
	waitUntil(10*time.Second, func() bool {
		return zombiesOf(master) == 0 && strings.Contains(s.log(), "reaped an orphaned process")
	})
	if n := zombiesOf(master); n > 0 {
		t.Fatalf("%d zombie children of the PID 1 master after 10s", n)
	}
	if !strings.Contains(s.log(), "running as PID 1") {
		t.Error("the master did not notice it is PID 1")
	}
}
