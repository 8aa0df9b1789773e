package overseer_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// service is one master process under test.
type service struct {
	t       *testing.T
	dir     string
	bin     string // the binary the master runs and upgrades
	addr    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	code    int
}

// options configure a service.
type options struct {
	variant string
	env     []string
	watch   bool // use a File fetcher on <dir>/next
	symlink bool // run through a symlink to the binary
	// diskFree, when set, puts the binary on a file system of its own
	// with this many bytes free beside it (a tmpfs; needs root).
	diskFree int64
}

// startService copies a variant into a fresh directory and runs it.
func startService(t *testing.T, o options) *service {
	t.Helper()
	if o.variant == "" {
		o.variant = "v1"
	}
	dir := serviceDir(t, "svc-")
	s := &service{t: t, dir: dir, bin: filepath.Join(dir, "app"), addr: freeAddr(t), logPath: filepath.Join(dir, "log"), done: make(chan struct{})}
	if o.diskFree > 0 {
		s.bin = filepath.Join(smallDisk(t, filepath.Join(dir, "disk"), fileSize(t, filepath.Join(binDir, o.variant))+o.diskFree), "app")
	}
	copyFile(t, filepath.Join(binDir, o.variant), s.bin)
	run := s.bin
	if o.symlink {
		run = filepath.Join(dir, "current")
		if err := os.Symlink(s.bin, run); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(run)
	cmd.Env = s.env()
	if o.watch {
		cmd.Env = append(cmd.Env, "APP_WATCH="+filepath.Join(dir, "next"))
	}
	cmd.Env = append(cmd.Env, o.env...)
	s.launch(cmd)
	return s
}

// env is the environment every service under test starts with.
func (s *service) env() []string {
	// GORACE: race-enabled programs otherwise sleep a second at exit.
	return append(os.Environ(), "APP_ADDR="+s.addr, "APP_TERMINATE_TIMEOUT=10s", "APP_DEBUG=1", "GORACE=atexit_sleep_ms=50 halt_on_error=1")
}

// launch starts cmd as the service's master, in its own process group
// with its output in the service log, and waits until it serves. The
// test's cleanup kills the group.
func (s *service) launch(cmd *exec.Cmd) {
	s.t.Helper()
	logf, err := os.Create(s.logPath)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	s.cmd = cmd
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			s.code = 128 + int(ws.Signal())
		}
		close(s.done)
	}()
	s.t.Cleanup(s.kill)
	s.waitServing("v", 15*time.Second)
}

// kill ends the service's whole process group and reports the log if the
// test failed.
func (s *service) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("master %d did not exit after SIGKILL", s.cmd.Process.Pid)
	}
	// Children may outlive the master for a moment: wait for the group.
	waitUntil(10*time.Second, func() bool {
		if !groupAlive(s.cmd.Process.Pid) {
			return true
		}
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		return false
	})
	if strings.Contains(s.log(), "DATA RACE") {
		s.t.Errorf("the race detector found a data race in the service")
	}
	if s.t.Failed() {
		s.t.Logf("service log:\n%s", s.log())
	}
}

// groupAlive reports whether any process of group pgid is alive.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// log returns everything the service printed.
func (s *service) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// signal sends sig to the master.
func (s *service) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the master to exit and returns its exit code.
func (s *service) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(timeout):
		s.t.Fatalf("master did not exit within %s", timeout)
		return -1
	}
}

// response is what the test program answers on "/".
type response struct {
	version string
	pid     int
}

// get requests "/"-style path on a fresh connection and parses the
// "version pid" answer.
func (s *service) get(path string) (response, error) {
	body, err := s.getBody(path)
	if err != nil {
		return response{}, err
	}
	var r response
	if _, err := fmt.Sscanf(body, "%s %d", &r.version, &r.pid); err != nil {
		return response{}, fmt.Errorf("bad body %q", body)
	}
	return r, nil
}

// getBody requests path on a fresh connection and returns the body.
func (s *service) getBody(path string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + s.addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}

// mustGetBody is getBody that fails the test on error.
func (s *service) mustGetBody(path string) string {
	s.t.Helper()
	b, err := s.getBody(path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return b
}

// mustGet is get that fails the test on error.
func (s *service) mustGet(path string) response {
	s.t.Helper()
	r, err := s.get(path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return r
}

// waitServing waits until "/" answers with a version starting with prefix.
func (s *service) waitServing(prefix string, timeout time.Duration) response {
	s.t.Helper()
	var r response
	var last error
	ok := waitUntil(timeout, func() bool {
		select {
		case <-s.done:
			s.t.Fatalf("master exited with %d while waiting for %q", s.code, prefix)
		default:
		}
		var err error
		r, err = s.get("/")
		if err == nil && !strings.HasPrefix(r.version, prefix) {
			err = fmt.Errorf("serving %q", r.version)
		}
		last = err
		return err == nil
	})
	if !ok {
		s.t.Fatalf("not serving %q after %s (last: %v)", prefix, timeout, last)
	}
	return r
}

// waitLog waits until the log contains text.
func (s *service) waitLog(text string, timeout time.Duration) {
	s.t.Helper()
	waitFor(s.t, timeout, fmt.Sprintf("the service log to contain %q", text), func() bool {
		return strings.Contains(s.log(), text)
	})
}

// restartAndWait sends SIGUSR2 and waits for a response from a new pid.
func (s *service) restartAndWait(old int) response {
	s.t.Helper()
	s.signal(syscall.SIGUSR2)
	return s.waitNewPid(old, 15*time.Second, "SIGUSR2")
}

// waitNewPid waits until "/" is answered by a pid other than old; after
// names what should have brought the new child, for the failure message.
func (s *service) waitNewPid(old int, timeout time.Duration, after string) response {
	s.t.Helper()
	var r response
	waitFor(s.t, timeout, "a new child after "+after, func() bool {
		var err error
		r, err = s.get("/")
		return err == nil && r.pid != old
	})
	return r
}

// publish writes a variant to the watched path, atomically.
func (s *service) publish(variant string) {
	s.t.Helper()
	tmp := filepath.Join(s.dir, ".next.tmp")
	copyFile(s.t, filepath.Join(binDir, variant), tmp)
	if err := os.Rename(tmp, filepath.Join(s.dir, "next")); err != nil {
		s.t.Fatal(err)
	}
}

// publishBytes writes arbitrary content to the watched path.
func (s *service) publishBytes(b []byte) {
	s.t.Helper()
	tmp := filepath.Join(s.dir, ".next.tmp")
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "next")); err != nil {
		s.t.Fatal(err)
	}
}

// replaceBinary puts a variant in place of the service's binary the way a
// deployment tool does: write elsewhere, then rename (writing to a running
// executable fails with ETXTBSY).
func (s *service) replaceBinary(variant string) {
	s.t.Helper()
	tmp := s.bin + ".tmp"
	copyFile(s.t, filepath.Join(binDir, variant), tmp)
	if err := os.Rename(tmp, s.bin); err != nil {
		s.t.Fatal(err)
	}
}

// addrs returns the service's bound addresses, "network address" lines.
func (s *service) addrs() []string {
	s.t.Helper()
	return strings.Split(strings.TrimSpace(s.mustGetBody("/addrs")), "\n")
}

// addrOf returns the address of the first line of network in s.addrs().
func (s *service) addrOf(network string) string {
	s.t.Helper()
	for _, line := range s.addrs() {
		if n, a, _ := strings.Cut(line, " "); n == network {
			return a
		}
	}
	s.t.Fatalf("no %s address in %v", network, s.addrs())
	return ""
}

// publishSigned publishes a variant with the given signature (nil: none),
// the signature first, as a publisher should.
func (s *service) publishSigned(variant string, sig []byte) {
	s.t.Helper()
	sigPath := filepath.Join(s.dir, "next.minisig")
	if sig == nil {
		os.Remove(sigPath)
	} else if err := os.WriteFile(sigPath, sig, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.publish(variant)
}

// restart starts a new master on the service's binary, directory, address
// and environment, as a process supervisor does after the old one exited.
func (s *service) restart(t *testing.T) *service {
	t.Helper()
	again := &service{t: t, dir: s.dir, bin: s.bin, addr: s.addr, logPath: s.logPath + ".again", done: make(chan struct{})}
	cmd := exec.Command(s.cmd.Path)
	cmd.Env = s.cmd.Env
	again.launch(cmd)
	return again
}
