package overseer_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// supervised is a test program run as [program:app] by a real supervisord
// that the test starts for itself: own config, control socket, logs and
// pidfile in a fresh directory. The embedded service answers HTTP
// requests and publishes binaries; its process methods (signal, wait,
// kill) are not used, supervisord owns the process.
type supervised struct {
	*service
	conf   string // supervisord.conf
	svLog  string // supervisord's own log
	appOut string // the program's stdout
	cmd    *exec.Cmd
	done   chan struct{}
}

// supervisordOptions configure a supervised program.
type supervisordOptions struct {
	variant string
	watch   bool // APP_WATCH=<dir>/next: a File fetcher
}

// requireSupervisord skips the test, or fails it under test.sh
// (OVERSEER_REQUIRE_ALL=1), when supervisord or supervisorctl is missing.
func requireSupervisord(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"supervisord", "supervisorctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " not found: run scripts/install-test-deps.sh (Debian package supervisor)"
			if os.Getenv("OVERSEER_REQUIRE_ALL") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// startSupervised writes a supervisord configuration for a copy of a
// variant, starts supervisord in the foreground in its own process group,
// and waits until the program is RUNNING and serving.
func startSupervised(t *testing.T, o supervisordOptions) *supervised {
	t.Helper()
	requireSupervisord(t)
	if o.variant == "" {
		o.variant = "v1"
	}
	dir := serviceDir(t, "sv-")
	svc := &service{t: t, dir: dir, bin: filepath.Join(dir, "app"), addr: freeAddr(t), logPath: filepath.Join(dir, "app.err"), done: make(chan struct{})}
	copyFile(t, filepath.Join(binDir, o.variant), svc.bin)
	s := &supervised{
		service: svc,
		conf:    filepath.Join(dir, "supervisord.conf"),
		svLog:   filepath.Join(dir, "supervisord.log"),
		appOut:  filepath.Join(dir, "app.out"),
		done:    make(chan struct{}),
	}
	env := []string{
		"APP_ADDR=" + svc.addr,
		"APP_TERMINATE_TIMEOUT=8s", // below stopwaitsecs=10
		"APP_DEBUG=1",
		// Race-enabled programs otherwise sleep a second at exit.
		"GORACE=atexit_sleep_ms=50 halt_on_error=1",
	}
	if o.watch {
		env = append(env, "APP_WATCH="+filepath.Join(dir, "next"))
	}
	var quoted []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		quoted = append(quoted, fmt.Sprintf("%s=%q", k, strings.ReplaceAll(v, "%", "%%")))
	}
	sock := filepath.Join(dir, "supervisor.sock")
	conf := fmt.Sprintf(`[unix_http_server]
file=%[1]s/supervisor.sock
chmod=0700

[supervisord]
nodaemon=true
logfile=%[1]s/supervisord.log
pidfile=%[1]s/supervisord.pid
childlogdir=%[1]s
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%[1]s/supervisor.sock

[program:app]
command=%[1]s/app
directory=%[1]s
environment=%[2]s
autostart=true
autorestart=false
startsecs=1
startretries=0
stopsignal=TERM
stopwaitsecs=10
killasgroup=true
stdout_logfile=%[1]s/app.out
stderr_logfile=%[1]s/app.err
`, dir, strings.Join(quoted, ","))
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	s.cmd = exec.Command("supervisord", "-n", "-c", s.conf)
	s.cmd.Dir = dir
	s.cmd.Env = cleanEnviron()
	out, err := os.Create(filepath.Join(dir, "supervisord.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.cleanup)

	// supervisord is up once its socket answers.
	waitFor(t, 15*time.Second, "supervisord to answer on its socket", func() bool {
		select {
		case <-s.done:
			t.Fatalf("supervisord exited at start")
		default:
		}
		if _, err := os.Stat(sock); err != nil {
			return false
		}
		_, err := s.ctl("pid")
		return err == nil
	})
	s.waitState("RUNNING", 15*time.Second)
	s.waitServing("v", 15*time.Second)
	return s
}

// cleanEnviron is the test's environment without anything that would make
// the program under test think it is a child, a sanity check or under
// systemd.
func cleanEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OVERSEER_") || strings.HasPrefix(k, "APP_") || k == "NOTIFY_SOCKET" || k == "LISTEN_FDS" || k == "LISTEN_PID" || k == "LISTEN_FDNAMES" || k == "WATCHDOG_USEC" || k == "WATCHDOG_PID" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ctl runs supervisorctl against this supervisord, bounded to 20 s, and
// returns its combined output. supervisorctl exits non-zero for states
// such as STOPPED in "status", so the error is returned, not fatal.
func (s *supervised) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "supervisorctl", append([]string{"-c", s.conf}, args...)...)
	cmd.Env = cleanEnviron()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("supervisorctl %s: timed out", strings.Join(args, " "))
	}
	return strings.TrimSpace(string(out)), err
}

// mustCtl is ctl that fails the test unless the output contains want.
func (s *supervised) mustCtl(want string, args ...string) string {
	s.t.Helper()
	out, err := s.ctl(args...)
	if !strings.Contains(out, want) {
		s.t.Fatalf("supervisorctl %s: %q (err %v), want %q\n%s", strings.Join(args, " "), out, err, want, s.logs())
	}
	return out
}

// state returns the program's state and pid as "supervisorctl status"
// reports them ("RUNNING", 1234).
func (s *supervised) state() (string, int) {
	out, _ := s.ctl("status", "app")
	// app                              RUNNING   pid 1234, uptime 0:00:03
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "app" {
		return out, 0
	}
	pid := 0
	if len(f) >= 4 && f[2] == "pid" {
		pid, _ = strconv.Atoi(strings.TrimSuffix(f[3], ","))
	}
	return f[1], pid
}

// waitState waits until supervisord reports the program in state.
func (s *supervised) waitState(want string, timeout time.Duration) int {
	s.t.Helper()
	var got string
	var pid int
	if !waitUntil(timeout, func() bool { got, pid = s.state(); return got == want }) {
		s.t.Fatalf("program not %s after %s (last status %q)", want, timeout, got)
	}
	return pid
}

// masterPid is the program's pid as "supervisorctl pid app" reports it.
func (s *supervised) masterPid() int {
	s.t.Helper()
	out, err := s.ctl("pid", "app")
	pid, perr := strconv.Atoi(out)
	if err != nil || perr != nil || pid <= 0 {
		s.t.Fatalf("supervisorctl pid app: %q (%v)\n%s", out, err, s.logs())
	}
	return pid
}

// supervisordLog returns supervisord's own log.
func (s *supervised) supervisordLog() string {
	b, _ := os.ReadFile(s.svLog)
	return string(b)
}

// waitSupervisordLog waits until supervisord's log contains text.
func (s *supervised) waitSupervisordLog(text string, timeout time.Duration) {
	s.t.Helper()
	waitFor(s.t, timeout, fmt.Sprintf("supervisord's log to contain %q", text), func() bool {
		return strings.Contains(s.supervisordLog(), text)
	})
}

// assertNoExit fails the test if supervisord saw the program end or
// started it more than once.
func (s *supervised) assertNoExit() {
	s.t.Helper()
	log := s.supervisordLog()
	for _, bad := range []string{"exited: app", "stopped: app", "gave up: app"} {
		if strings.Contains(log, bad) {
			s.t.Errorf("supervisord's log contains %q\n%s", bad, s.logs())
		}
	}
	if n := strings.Count(log, "spawned: 'app'"); n != 1 {
		s.t.Errorf("supervisord spawned the program %d times, want 1\n%s", n, s.logs())
	}
}

// processes lists the live (non-zombie) processes running a binary from
// the test's directory: the master and its children, whatever their
// parent.
func (s *supervised) processes() []int {
	return runningFrom(s.dir)
}

// logs returns supervisord's log and the program's output, for failures.
func (s *supervised) logs() string {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(s.dir, name))
		return string(b)
	}
	sv := read("supervisord.log")
	if sv == "" { // it could not open its log: the reason is on its stderr
		sv = read("supervisord.stdout")
	}
	return "--- supervisord\n" + sv +
		"--- app stdout\n" + read("app.out") +
		"--- app stderr\n" + read("app.err")
}

// cleanup stops supervisord (which stops the program the way a shutdown
// of the host does), then kills whatever is left of either process group
// and every process running our binary, and fails the test if anything
// survives.
func (s *supervised) cleanup() {
	t := s.t
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Errorf("supervisord did not exit within 20s of SIGTERM")
	}
	// supervisord waits for the program when it shuts down, and the
	// master for its children: nothing may outlive it (2 s of grace for
	// the kernel to finish what is already exiting).
	if !waitUntil(2*time.Second, func() bool { return len(s.processes()) == 0 }) {
		t.Errorf("processes outlived supervisord's shutdown: %v", s.processes())
	}
	var left []int
	var group bool
	killed := waitUntil(10*time.Second, func() bool {
		left, group = s.processes(), groupAlive(s.cmd.Process.Pid)
		if len(left) == 0 && !group {
			return true
		}
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		for _, pid := range left {
			_ = syscall.Kill(-pid, syscall.SIGKILL) // the master leads its own group
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return false
	})
	if !killed {
		t.Errorf("processes left after SIGKILL: %v (supervisord group alive: %t)", left, group)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Errorf("supervisord %d not reaped after SIGKILL", s.cmd.Process.Pid)
	}
	if strings.Contains(s.log(), "DATA RACE") {
		t.Errorf("the race detector found a data race in the program")
	}
	if t.Failed() {
		t.Logf("logs:\n%s", s.logs())
	}
}

// stopAndMeasure runs "supervisorctl stop app" and returns how long it
// took to return and how long from the master's receipt of SIGTERM until
// master and child were gone, after checking that no process of ours is
// left.
func (s *supervised) stopAndMeasure(master, child int) (took, gone time.Duration) {
	s.t.Helper()
	// Watch the processes on the side: supervisorctl returns only when
	// supervisord has noticed, on its own poll.
	goneAt := make(chan time.Time, 1)
	start := time.Now()
	go func() {
		waitUntil(15*time.Second, func() bool { return !pidAlive(master) && !pidAlive(child) })
		goneAt <- time.Now()
	}()
	s.mustCtl("stopped", "stop", "app")
	took = time.Since(start)
	end := <-goneAt
	waitGone(s.t, master, time.Second)
	waitGone(s.t, child, time.Second)
	// supervisorctl spends a few hundred milliseconds starting Python:
	// measure from the SIGTERM's arrival, the master's "stopping" line.
	signalled := s.lastLogTime("msg=stopping")
	if signalled.IsZero() || signalled.Before(start) {
		s.t.Fatalf("no \"stopping\" line in the master's log after the stop request\n%s", s.logs())
	}
	gone = end.Sub(signalled)
	if left := s.processes(); len(left) > 0 {
		s.t.Fatalf("processes left after supervisorctl stop: %v\n%s", left, s.logs())
	}
	return took, gone
}

// slowRequest sends a request that sleeps d in the handler, on a
// connection that is established (in the accept queue at least) when it
// returns; the raw response arrives on the channel.
func (s *supervised) slowRequest(d time.Duration) <-chan string {
	s.t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	req := "GET /?sleep=" + d.String() + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		s.t.Fatal(err)
	}
	reply := make(chan string, 1)
	go func() {
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
		b, err := io.ReadAll(conn)
		if err != nil {
			reply <- "error: " + err.Error() + ": " + string(b)
			return
		}
		reply <- string(b)
	}()
	// Let the child accept it and start the handler before the stop.
	time.Sleep(100 * time.Millisecond)
	return reply
}

// waitNewChild waits for a response from a pid not in seen.
func (s *supervised) waitNewChild(seen []int) response {
	s.t.Helper()
	var r response
	waitFor(s.t, 15*time.Second, "a new child after supervisorctl signal USR2", func() bool {
		var err error
		r, err = s.get("/")
		return err == nil && !slices.Contains(seen, r.pid)
	})
	return r
}

// lastLogTime returns the time of the program's last log line that
// contains text (slog's "time=" field), or the zero time.
func (s *supervised) lastLogTime(text string) time.Time {
	lines := strings.Split(s.log(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.Contains(lines[i], text) {
			continue
		}
		f, _, _ := strings.Cut(lines[i], " ")
		if ts, ok := strings.CutPrefix(f, "time="); ok {
			t, _ := time.Parse(time.RFC3339Nano, ts)
			return t
		}
	}
	return time.Time{}
}
