package service

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/app"
	"github.com/seed-710818af/overseer/bench/internal/proc"
)

// Options configure Start.
type Options struct {
	// Dir holds the pid file; it must exist.
	Dir string
	// Log receives the service's stdout and stderr; nil discards them.
	Log io.Writer
	// TerminateTimeout is passed to the app as BENCH_TERMINATE_TIMEOUT.
	TerminateTimeout time.Duration
	// Env holds extra KEY=VALUE pairs for the service.
	Env []string
	// Tracker records the process group for the final cleanup. Required.
	Tracker *proc.Tracker
}

// Service is one running instance of a Variant.
type Service struct {
	Variant Variant
	// Addr is the loopback address the service listens on.
	Addr string
	// Token is echoed by every process of this service.
	Token string
	// Pid is the first process (the master for overseer variants). It is
	// also the process group id of the whole service.
	Pid int

	pidFile string
	tracker *proc.Tracker
	exited  chan struct{}
	state   *os.ProcessState
	// exitedAt is when the first process was reaped; valid once exited is
	// closed.
	exitedAt time.Time
}

// Start launches v on a free loopback port in a new process group.
func Start(v Variant, o Options) (*Service, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Service{
		Variant: v,
		Addr:    "127.0.0.1:" + strconv.Itoa(port),
		Token:   strconv.FormatInt(time.Now().UnixNano(), 36),
		pidFile: o.Dir + "/" + v.Name + ".pid",
		tracker: o.Tracker,
		exited:  make(chan struct{}),
	}
	_ = os.Remove(s.pidFile)
	cmd := exec.Command(v.Bin)
	cmd.Env = append(os.Environ(),
		"BENCH_ADDR="+s.Addr,
		"BENCH_TOKEN="+s.Token,
		"BENCH_PIDFILE="+s.pidFile,
		"BENCH_TERMINATE_TIMEOUT="+o.TerminateTimeout.String(),
	)
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", v.Bin, err)
	}
	s.Pid = cmd.Process.Pid
	o.Tracker.AddGroup(s.Pid)
	go func() {
		_ = cmd.Wait()
		s.state = cmd.ProcessState
		s.exitedAt = time.Now()
		close(s.exited)
	}()
	return s, nil
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL returns the service URL with the given ?sleep= value.
func (s *Service) URL(sleep time.Duration) string {
	return "http://" + s.Addr + "/?sleep=" + sleep.String()
}

// Exited is closed when the first process has exited and been reaped.
func (s *Service) Exited() <-chan struct{} { return s.exited }

// ExitedBefore reports whether the first process exited before t, and its
// exit status then.
func (s *Service) ExitedBefore(t time.Time) (bool, string) {
	select {
	case <-s.exited:
		if s.exitedAt.Before(t) {
			return true, s.state.String()
		}
	default:
	}
	return false, ""
}

// ExitCode returns the first process's exit code, or -1 while it runs or when
// it was killed by a signal.
func (s *Service) ExitCode() int {
	select {
	case <-s.exited:
		return s.state.ExitCode()
	default:
		return -1
	}
}

// WaitReady polls the service until it answers 200 with its token, and
// returns the pid that answered.
func (s *Service) WaitReady(timeout time.Duration) (int, error) {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return 0, fmt.Errorf("%s exited before it was ready (%v)", s.Variant.Name, s.state)
		default:
		}
		resp, err := c.Get(s.URL(0))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			pid, _ := strconv.Atoi(resp.Header.Get(app.HeaderPid))
			if resp.StatusCode == 200 && resp.Header.Get(app.HeaderToken) == s.Token && pid > 0 {
				if s.Variant.Restart == SignalPIDFile && s.pidFromFile() == 0 {
					last = fmt.Errorf("no pid file yet")
				} else {
					return pid, nil
				}
			} else {
				last = fmt.Errorf("status %d token %q", resp.StatusCode, resp.Header.Get(app.HeaderToken))
			}
		} else {
			last = err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s not ready after %s: %v", s.Variant.Name, timeout, last)
}

// pidFromFile reads the tableflip pid file; 0 when missing or invalid.
func (s *Service) pidFromFile() int {
	b, err := os.ReadFile(s.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Restart asks the service to restart, the way its library expects, and
// returns the pid it signalled.
func (s *Service) Restart() (int, error) {
	switch s.Variant.Restart {
	case SignalMaster:
		if ok, how := s.ExitedBefore(time.Now()); ok {
			return 0, fmt.Errorf("%s: the master has exited (%s)", s.Variant.Name, how)
		}
		return s.Pid, syscall.Kill(s.Pid, syscall.SIGUSR2)
	case SignalPIDFile:
		pid := s.pidFromFile()
		if pid == 0 {
			return 0, fmt.Errorf("%s: no pid in %s", s.Variant.Name, s.pidFile)
		}
		return pid, syscall.Kill(pid, syscall.SIGHUP)
	default:
		return 0, fmt.Errorf("%s cannot be restarted", s.Variant.Name)
	}
}

// TermTarget returns the pid that receives SIGTERM: the master, the current
// tableflip process, or the plain process.
func (s *Service) TermTarget() int {
	if s.Variant.Restart == SignalPIDFile {
		if pid := s.pidFromFile(); pid > 0 && proc.Alive(pid) {
			return pid
		}
	}
	return s.Pid
}

// Related returns the live processes of this service: its process group,
// children of the first process, and any of served that are still alive.
func (s *Service) Related(served []int) []int {
	return proc.Related(s.Pid, []int{s.Pid}, served)
}

// Kill sends SIGKILL to the whole process group and to the served pids.
func (s *Service) Kill(served []int) {
	_ = syscall.Kill(-s.Pid, syscall.SIGKILL)
	for _, p := range s.Related(served) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// CtxSleep sleeps for d or until ctx is done, whichever comes first, and
// reports whether the full duration elapsed.
func CtxSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
