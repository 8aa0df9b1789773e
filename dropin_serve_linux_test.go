package overseer_test

import (
	"syscall"
	"testing"
	"time"
)

// TestExitOnServeReturnLosesNothing: a program that exits the moment Serve
// returns (log.Fatal(http.Serve(...)), or srv.Serve followed by log.Fatalf)
// still completes the request in flight when a restart begins and when
// SIGTERM arrives: Serve does not return while a request is in flight.
func TestExitOnServeReturnLosesNothing(t *testing.T) {
	for _, serve := range []string{"fatal", "fatalsrv"} {
		t.Run(serve+"/restart", func(t *testing.T) {
			s := startService(t, options{env: []string{"APP_SERVE=" + serve}})
			old := s.mustGet("/").pid
			slow := inFlight(s, "/?sleep=800ms")
			time.Sleep(200 * time.Millisecond)
			s.restartAndWait(old)
			res := <-slow
			if res.err != nil {
				t.Fatalf("request in flight at the restart failed: %v", res.err)
			}
			if res.r.pid != old {
				t.Errorf("request answered by %d, want the old child %d", res.r.pid, old)
			}
			waitGone(t, old, 5*time.Second)
		})
		t.Run(serve+"/sigterm", func(t *testing.T) {
			s := startService(t, options{env: []string{"APP_SERVE=" + serve}})
			s.mustGet("/")
			slow := inFlight(s, "/?sleep=800ms")
			time.Sleep(200 * time.Millisecond)
			s.signal(syscall.SIGTERM)
			res := <-slow
			if res.err != nil {
				t.Fatalf("request in flight at SIGTERM failed: %v", res.err)
			}
			s.wait(10 * time.Second)
		})
	}
}

// result is the outcome of one request.
type result struct {
	r   response
	err error
}

// inFlight sends a request on a fresh connection in the background.
func inFlight(s *service, path string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := s.get(path)
		ch <- result{r, err}
	}()
	return ch
}

// TestKeepAlivePOSTsSurviveRestarts: 32 keep-alive clients send POSTs
// that cannot be replayed while a program written for jpillora/overseer
// (plain http.Serve, srv.Serve + srv.Shutdown, log.Fatal(http.Serve)) is
// restarted six times: none fails and none is re-sent, because each client
// is told "Connection: close" before its connection is closed.
func TestKeepAlivePOSTsSurviveRestarts(t *testing.T) {
	for _, serve := range []string{"plain", "shutdown", "fatal"} {
		t.Run(serve, func(t *testing.T) {
			s := startService(t, options{env: []string{"APP_SERVE=" + serve}})
			l := startLoadWith(s.addr, 32, true, true, "/", 60*time.Second)
			restartUnderLoad(t, s, l, 6, 150*time.Millisecond, "POSTs")
		})
	}
}
