//go:build linux

package overseer_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The integration tests build testdata/app in several variants and run
// them as real processes on real sockets on 127.0.0.1.

// binDir holds the built variants for the whole test run.
var binDir string

// runDir holds the directory of every process a test starts, for this
// test run only: the leftover check looks for processes there and nowhere
// else, so test runs side by side (a CI job and a developer's) never
// count, or kill, each other's processes.
var runDir string

// variants are the builds of testdata/app, by name: "-X main.version=… -X main.mode=…".
var variants = map[string][2]string{
	"v1":        {"v1", ""},
	"v2":        {"v2", ""},
	"v3":        {"v3", ""},
	"crash":     {"crash", "crash"},
	"noready":   {"noready", "noready"},
	"failcheck": {"failcheck", "failcheck"},
	"hangcheck": {"hangcheck", "hangcheck"},
	"noisy":     {"noisy", "noisy"},
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "overseer-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if runDir, err = os.MkdirTemp("", "overseer-it-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(binDir)
		os.Exit(1)
	}
	code := 1
	if err := buildVariants(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if left := leftoverProcesses(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: processes left behind by the tests: %v\n", left)
		code = 1
	}
	os.RemoveAll(binDir)
	os.RemoveAll(runDir)
	os.Exit(code)
}

// serviceDir makes a directory for a test's processes under runDir,
// removed when the test ends. Keep prefix short: Unix socket paths inside
// it must fit in 108 bytes.
func serviceDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp(runDir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// buildVariants builds every variant of the test program into dir.
func buildVariants(dir string) error {
	// A good binary for another architecture must fail the sanity check.
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "otherarch"), "./testdata/app")
	cmd.Env = append(os.Environ(), "GOARCH="+other)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build otherarch: %v\n%s", err, out)
	}
	for name, v := range variants {
		args := []string{"build", "-o", filepath.Join(dir, name), "-ldflags", "-X main.version=" + v[0] + " -X main.mode=" + v[1]}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./testdata/app")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
	}
	return nil
}

// leftoverProcesses lists, and kills, live processes running a binary from
// this run's runDir (a test that forgot one, or a child that outlived its
// master).
func leftoverProcesses() []string {
	var left []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, runDir+string(filepath.Separator)) {
			continue
		}
		if state, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); bytes.Contains(state, []byte(") Z ")) {
			continue
		}
		left = append(left, fmt.Sprintf("%d:%s", pid, exe))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return left
}

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

// smallDisk mounts a tmpfs of size bytes at dir, unmounted when the test
// ends (after the service is gone: cleanups run in reverse order).
func smallDisk(t *testing.T, dir string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small file system")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("mount a %d-byte tmpfs at %s: %v", size, dir, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// resizeDisk changes the size of a file system made by smallDisk.
func resizeDisk(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("resize the tmpfs at %s to %d bytes: %v", dir, size, err)
	}
}

// fileSize returns the size of path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
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
	deadline := time.Now().Add(10 * time.Second)
	for groupAlive(s.cmd.Process.Pid) && time.Now().Before(deadline) {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
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
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.t.Fatalf("master exited with %d while waiting for %q\n%s", s.code, prefix, s.log())
		default:
		}
		r, err := s.get("/")
		if err == nil && strings.HasPrefix(r.version, prefix) {
			return r
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("not serving %q after %s (last error: %v)\n%s", prefix, timeout, last, s.log())
	return response{}
}

// waitLog waits until the log contains text.
func (s *service) waitLog(text string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(s.log(), text) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("log does not contain %q after %s\n%s", text, timeout, s.log())
}

// restartAndWait sends SIGUSR2 and waits for a response from a new pid.
func (s *service) restartAndWait(old int) response {
	s.t.Helper()
	s.signal(syscall.SIGUSR2)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := s.get("/"); err == nil && r.pid != old {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("no new child after SIGUSR2\n%s", s.log())
	return response{}
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

// pidAlive reports whether pid is a live (non-zombie) process.
func pidAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !bytes.Contains(stat, []byte(") Z "))
}

// waitGone waits for pid to exit.
func waitGone(t *testing.T, pid int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if !pidAlive(pid) {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT) // its goroutine dump lands in the service log
	time.Sleep(300 * time.Millisecond)
	t.Fatalf("process %d still alive after %s", pid, timeout)
	return 0
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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

// copyFile copies src to dst as an executable.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// fileHash returns the SHA-256 of a file, hex.
func fileHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// countFDs counts pid's open descriptors, as the smallest of several
// samples: a descriptor that is open only for a moment (the test program
// rewriting its stats file, a timer's goroutine) is not a leak, and a leak
// shows in every sample.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	least := -1
	for i := 0; i < 5; i++ {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		if least < 0 || len(entries) < least {
			least = len(entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return least
}

// childPids lists the live children of pid.
func childPids(pid int) []int {
	return childrenOf(pid, func(state string) bool { return state != "Z" })
}

// childrenOf lists the children of pid whose state (R, S, Z, …) keep
// accepts.
func childrenOf(pid int, keep func(state string) bool) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && keep(fields[0]) && fields[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}
