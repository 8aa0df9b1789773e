package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the example binaries the tests build, once per run.
var (
	binDir  string
	buildMu sync.Mutex
	built   = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "overseer-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles ./examples/<name> once and returns the binary's path.
func build(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	out := filepath.Join(binDir, name)
	cmd := exec.Command("go", "build", "-o", out, "./examples/"+name)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

// freeAddr returns a 127.0.0.1 address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// service is a master process under test and what its children print.
type service struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string // stdout lines
	stderr *lockedBuffer
	exited chan struct{}
	err    error // the master's exit, once exited is closed
}

// start runs bin as a master in a process group of its own, so cleanup
// reaches every child it started.
func start(t *testing.T, bin string, args ...string) *service {
	t.Helper()
	s := &service{t: t, lines: make(chan string, 1024), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Stderr = s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop(15 * time.Second)
		if t.Failed() {
			t.Logf("service stderr:\n%s", s.stderr.String())
		}
	})
	return s
}

// pid is the master's process ID.
func (s *service) pid() int { return s.cmd.Process.Pid }

// stop asks the master to stop (SIGTERM) and kills the whole group if it
// has not exited within timeout. It reports the master's exit.
func (s *service) stop(timeout time.Duration) error {
	select {
	case <-s.exited:
		return s.err
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.t.Errorf("master %d still running %s after SIGTERM; killing its group", s.pid(), timeout)
		_ = syscall.Kill(-s.pid(), syscall.SIGKILL)
		<-s.exited
	}
	// Anything left in the group (a child that outlived its master) goes.
	_ = syscall.Kill(-s.pid(), syscall.SIGKILL)
	return s.err
}

// waitServing waits for a child to print "serving ADDR pid PID" and
// returns ADDR and PID.
func (s *service) waitServing(timeout time.Duration) (string, int) {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-s.lines:
			var addr string
			var pid int
			if _, err := fmt.Sscanf(line, "serving %s pid %d", &addr, &pid); err == nil {
				return addr, pid
			}
		case <-s.exited:
			s.t.Fatalf("master exited (%v) before a child served; stderr:\n%s", s.err, s.stderr.String())
		case <-deadline:
			s.t.Fatalf("no child served within %s; stderr:\n%s", timeout, s.stderr.String())
		}
	}
}

// restart sends SIGUSR2 to the master and waits for the new child. It
// returns the new child's PID.
func (s *service) restart() int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		s.t.Fatal(err)
	}
	_, pid := s.waitServing(20 * time.Second)
	return pid
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 {
		return b[i+2] != 'Z'
	}
	return true
}

// waitExit waits up to timeout for pid to end and returns how long it took.
func waitExit(pid int, timeout time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < timeout {
		if !alive(pid) {
			return time.Since(start), true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start), false
}

// rssKiB is a process's resident set size in KiB (0 if it is gone).
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// group lists the live processes of process group pgid.
func group(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After ")": state ppid pgrp ...
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
