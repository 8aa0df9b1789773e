package overseer_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestartsUnderLoad restarts a service ten times under concurrent
// load, for each way a program can serve and with keep-alive on and off:
// no request may fail, and none may even be retried by the client.
func TestRestartsUnderLoad(t *testing.T) {
	for _, serve := range []string{"graceful", "shutdown", "plain"} {
		for _, keepAlive := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/keepalive=%t", serve, keepAlive), func(t *testing.T) {
				s := startService(t, options{env: []string{"APP_SERVE=" + serve}})
				l := startLoad(s.addr, 16, keepAlive, "/", 60*time.Second)
				restartUnderLoad(t, s, l, 10, 100*time.Millisecond, "requests")
			})
		}
	}
}

// TestSlowRequestSurvivesRestart: a request in flight when the restart
// begins is answered by the old child.
func TestSlowRequestSurvivesRestart(t *testing.T) {
	for _, serve := range []string{"graceful", "shutdown", "plain"} {
		t.Run(serve, func(t *testing.T) {
			s := startService(t, options{env: []string{"APP_SERVE=" + serve}})
			old := s.mustGet("/").pid
			type result struct {
				r   response
				err error
			}
			slow := make(chan result, 1)
			go func() {
				r, err := s.get("/?sleep=1500ms")
				slow <- result{r, err}
			}()
			time.Sleep(300 * time.Millisecond)
			s.restartAndWait(old)
			res := <-slow
			if res.err != nil {
				t.Fatalf("slow request failed: %v", res.err)
			}
			if res.r.pid != old {
				t.Errorf("slow request answered by %d, want the old child %d", res.r.pid, old)
			}
			waitGone(t, old, 5*time.Second)
		})
	}
}

// TestOldChildExitsWhenDrained: the old child exits as soon as its
// connections are done, not at TerminateTimeout (10s here), even with idle
// keep-alive connections open to it.
func TestOldChildExitsWhenDrained(t *testing.T) {
	for _, serve := range []string{"graceful", "shutdown", "plain"} {
		t.Run(serve, func(t *testing.T) {
			s := startService(t, options{env: []string{"APP_SERVE=" + serve}})
			old := s.mustGet("/").pid
			// Idle keep-alive connections to the old child.
			var transports []*http.Transport
			for i := 0; i < 4; i++ {
				tr := &http.Transport{}
				transports = append(transports, tr)
				resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + s.addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			defer func() {
				for _, tr := range transports {
					tr.CloseIdleConnections()
				}
			}()
			start := time.Now()
			s.restartAndWait(old)
			waitGone(t, old, 5*time.Second)
			t.Logf("old child gone %s after the restart signal", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestCrashingChildKeepsOldServing: a new child that exits at start leaves
// the old one serving.
func TestCrashingChildKeepsOldServing(t *testing.T) {
	s := startService(t, options{})
	old := s.mustGet("/").pid
	s.replaceBinary("crash")
	s.signal(syscall.SIGUSR2)
	s.waitLog("restart failed", 15*time.Second)
	if r := s.mustGet("/"); r.pid != old || r.version != "v1" {
		t.Fatalf("served by %v after a failed restart, want v1 from %d", r, old)
	}
	if !strings.Contains(s.log(), "exited with code 7") {
		t.Errorf("log does not say how the new child failed")
	}
}

// TestNeverReadyChildIsKilled: a new child that never accepts is killed
// after ReadyTimeout and the old one keeps serving.
func TestNeverReadyChildIsKilled(t *testing.T) {
	s := startService(t, options{env: []string{"APP_READY_TIMEOUT=1s"}})
	old := s.mustGet("/").pid
	s.replaceBinary("noready")
	s.signal(syscall.SIGUSR2)
	s.waitLog("restart failed", 15*time.Second)
	if r := s.mustGet("/"); r.pid != old {
		t.Fatalf("served by %d after a failed restart, want %d", r.pid, old)
	}
	if !strings.Contains(s.log(), "not ready within 1s") {
		t.Errorf("log does not say the new child was not ready in time")
	}
	waitChildren(t, s.cmd.Process.Pid, 1)
}

// TestRestartStorm: many restart signals at once cause one restart at a
// time, and the service keeps serving.
func TestRestartStorm(t *testing.T) {
	s := startService(t, options{})
	l := startLoad(s.addr, 4, true, "/", 30*time.Second)
	for i := 0; i < 30; i++ {
		s.signal(syscall.SIGUSR2)
	}
	time.Sleep(2 * time.Second)
	l.stop()
	if failed, detail := l.failures(); failed > 0 {
		t.Errorf("%d requests failed: %s", failed, detail)
	}
	s.mustGet("/")
	begun := strings.Count(s.log(), "restart begun")
	if begun < 1 || begun > 3 {
		t.Errorf("%d restarts for a storm of 30 signals, want 1 to 3", begun)
	}
	waitChildren(t, s.cmd.Process.Pid, 1)
}

// TestRestartFromChild: Restart() in the program asks the master over the
// control channel.
func TestRestartFromChild(t *testing.T) {
	s := startService(t, options{})
	old := s.mustGet("/").pid
	s.mustGetBody("/restart")
	s.waitNewPid(old, 10*time.Second, "Restart() in the child")
}
