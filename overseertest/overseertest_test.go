package overseertest_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/graceful"
	"github.com/seed-710818af/overseer/overseertest"
)

// handler answers "ok", after sleeping ?sleep= if given. Each request
// that arrives is announced on started, if it is not nil.
func handler(started chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if started != nil {
			started <- struct{}{}
		}
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprint(w, "ok")
	})
}

// programs are the ways a program serves that overseer supports: none may
// lose a request in a drain.
var programs = map[string]func(h http.Handler) func(overseer.State){
	"graceful.Serve": func(h http.Handler) func(overseer.State) {
		return func(s overseer.State) {
			_ = graceful.Serve(&http.Server{Handler: h}, s.Listener, s.GracefulShutdown)
		}
	},
	"Shutdown": func(h http.Handler) func(overseer.State) {
		return func(s overseer.State) {
			srv := &http.Server{Handler: h}
			go func() {
				<-s.GracefulShutdown
				_ = srv.Shutdown(context.Background())
			}()
			_ = srv.Serve(s.Listener)
		}
	},
	"http.Serve": func(h http.Handler) func(overseer.State) {
		return func(s overseer.State) { _ = http.Serve(s.Listener, h) }
	},
}

// get requests path from addr on a new connection, bounded to 10 s.
func get(addr, path string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

// start starts program and closes it when the test ends.
func start(t *testing.T, o overseertest.Options, program func(overseer.State)) *overseertest.Child {
	t.Helper()
	c, err := overseertest.Start(o, program)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// received waits for n requests to reach the handler.
func received(t *testing.T, started <-chan struct{}, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d requests reached the handler within 10s", i, n)
		}
	}
}

// TestStateIsAChilds: the State is what a child gets, on live listeners.
func TestStateIsAChilds(t *testing.T) {
	got := make(chan overseer.State, 1)
	c := start(t, overseertest.Options{Addresses: []string{"127.0.0.1:0", "127.0.0.1:0"}}, func(s overseer.State) {
		got <- s
		<-s.GracefulShutdown
	})
	s := <-got
	if !s.Enabled || s.StartedAt.IsZero() {
		t.Errorf("Enabled %t, StartedAt %v: want a child's", s.Enabled, s.StartedAt)
	}
	if len(s.Listeners) != 2 || s.Listener != s.Listeners[0] || s.Address != "127.0.0.1:0" || len(s.Addresses) != 2 {
		t.Fatalf("listeners %v (first %v), address %q, addresses %v", s.Listeners, s.Listener, s.Address, s.Addresses)
	}
	for i, l := range s.Listeners {
		if _, ok := l.(*graceful.Listener); !ok {
			t.Errorf("listener %d is a %T, want the *graceful.Listener a child has", i, l)
		}
	}
	if c.Addr() != s.Listener.Addr().String() || !strings.HasPrefix(c.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() %q, listener %v", c.Addr(), s.Listener.Addr())
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if s.BinPath != exe || s.ID != hex.EncodeToString(sum[:]) {
		t.Errorf("BinPath %q, ID %q: want this binary and its SHA-256", s.BinPath, s.ID)
	}
	select {
	case <-s.GracefulShutdown:
		t.Fatal("GracefulShutdown closed before a drain")
	default:
	}
	c.Drain()
	select {
	case <-s.GracefulShutdown:
	default:
		t.Fatal("GracefulShutdown still open after Drain returned")
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, l := range s.Listeners {
		if conn, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
			conn.Close()
			t.Errorf("listener %d still accepts after the program returned", i)
		}
	}
}

// TestDrainLosesNothing: for every way of serving overseer supports, a
// drain answers the requests in flight and the request of a connection
// accepted just before it, and Wait reports no failure.
func TestDrainLosesNothing(t *testing.T) {
	for name, program := range programs {
		t.Run(name, func(t *testing.T) {
			started := make(chan struct{}, 16)
			c := start(t, overseertest.Options{}, program(handler(started)))
			const inFlight = 4
			errs := make(chan error, inFlight)
			for i := 0; i < inFlight; i++ {
				go func() {
					_, err := get(c.Addr(), "/?sleep=300ms")
					errs <- err
				}()
			}
			received(t, started, inFlight)
			// A connection accepted, whose request arrives only after the
			// drain began: http.Server.Shutdown would drop it unread.
			late, err := net.DialTimeout("tcp", c.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer late.Close()
			for i := 0; i < 5000 && c.Connections() < inFlight+1; i++ {
				time.Sleep(time.Millisecond)
			}
			if n := c.Connections(); n != inFlight+1 {
				t.Fatalf("%d connections accepted, want %d", n, inFlight+1)
			}
			drained := make(chan struct{})
			go func() {
				c.Drain()
				close(drained)
			}()
			time.Sleep(50 * time.Millisecond)
			_ = late.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(late, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(late), nil)
			if err != nil {
				t.Errorf("the request sent during the drain failed: %v", err)
			} else {
				resp.Body.Close()
			}
			for i := 0; i < inFlight; i++ {
				if err := <-errs; err != nil {
					t.Errorf("a request in flight at the drain failed: %v", err)
				}
			}
			<-drained
			if err := c.Wait(); err != nil {
				t.Errorf("Wait: %v", err)
			}
		})
	}
}

// TestDrainExposesADroppingProgram: a program that answers
// GracefulShutdown with http.Server.Close cuts the request in flight, and
// a test sees it fail; the same request survives a program that shuts
// down properly (TestDrainLosesNothing).
func TestDrainExposesADroppingProgram(t *testing.T) {
	started := make(chan struct{}, 1)
	c := start(t, overseertest.Options{}, func(s overseer.State) {
		srv := &http.Server{Handler: handler(started)}
		go func() {
			<-s.GracefulShutdown
			_ = srv.Close() // drops what is in flight
		}()
		_ = srv.Serve(s.Listener)
	})
	res := make(chan error, 1)
	go func() {
		// Longer than the drain's wait for keep-alive clients (1 s), which
		// lets a shorter request finish before GracefulShutdown closes.
		_, err := get(c.Addr(), "/?sleep=3s")
		res <- err
	}()
	received(t, started, 1)
	c.Drain()
	if err := <-res; err == nil {
		t.Fatal("the request in flight succeeded, although the program closed its connection")
	}
	if err := c.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}

// TestWaitReportsCutConnections: a program that returns while one of its
// requests takes longer than TerminateTimeout would see that request cut
// by the child's exit; Wait says so.
func TestWaitReportsCutConnections(t *testing.T) {
	started := make(chan struct{}, 1)
	c := start(t, overseertest.Options{TerminateTimeout: 300 * time.Millisecond}, func(s overseer.State) {
		go func() { _ = http.Serve(s.Listener, handler(started)) }()
		<-s.GracefulShutdown // returns without waiting for its requests
	})
	res := make(chan error, 1)
	go func() {
		_, err := get(c.Addr(), "/?sleep=1500ms")
		res <- err
	}()
	received(t, started, 1)
	c.Drain()
	err := c.Wait()
	if !errors.Is(err, overseertest.ErrTerminated) || !strings.Contains(err.Error(), "1 connection(s) were still open") {
		t.Errorf("Wait: %v, want ErrTerminated with one connection open", err)
	}
	<-res // the handler's goroutine outlives the "child" in a test; let it end
}

// TestWaitReportsAProgramThatDoesNotReturn: a program that ignores
// GracefulShutdown is reported TerminateTimeout (and a little) after the
// drain, as a real child would be ended then.
func TestWaitReportsAProgramThatDoesNotReturn(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c := start(t, overseertest.Options{TerminateTimeout: 200 * time.Millisecond}, func(s overseer.State) {
		<-release
	})
	begin := time.Now()
	c.Drain()
	err := c.Wait()
	if !errors.Is(err, overseertest.ErrTerminated) || !strings.Contains(err.Error(), "had not returned") {
		t.Errorf("Wait: %v, want ErrTerminated for a program that did not return", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Wait took %s with a TerminateTimeout of 200ms", took)
	}
}

// TestWaitReportsAPanic: a panic in the program fails Wait, not the test
// binary.
func TestWaitReportsAPanic(t *testing.T) {
	c := start(t, overseertest.Options{}, func(overseer.State) { panic("boom") })
	if err := c.Wait(); err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Errorf("Wait: %v, want the panic", err)
	}
}

// TestCloseStopsARunningProgram: Close drains a program still serving and
// releases its port.
func TestCloseStopsARunningProgram(t *testing.T) {
	c, err := overseertest.Start(overseertest.Options{}, programs["graceful.Serve"](handler(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if body, err := get(c.Addr(), "/"); err != nil || body != "ok" {
		t.Fatalf("GET: %q, %v", body, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done still open after Close")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if l, err := net.Listen("tcp", c.Addr()); err != nil {
		t.Errorf("port still held after Close: %v", err)
	} else {
		l.Close()
	}
}

// TestReady: the child is ready when the program first calls Accept or
// State.Ready, not before.
func TestReady(t *testing.T) {
	isReady := func(c *overseertest.Child, within time.Duration) bool {
		select {
		case <-c.Ready():
			return true
		case <-time.After(within):
			return false
		}
	}
	serving := start(t, overseertest.Options{}, programs["graceful.Serve"](handler(nil)))
	if !isReady(serving, 10*time.Second) {
		t.Error("a program serving its listener is not ready")
	}

	warm := make(chan struct{})
	explicit := start(t, overseertest.Options{}, func(s overseer.State) {
		s.Ready()
		<-warm // a warm-up before serving
		_ = http.Serve(s.Listener, handler(nil))
	})
	if !isReady(explicit, 10*time.Second) {
		t.Error("a program that called State.Ready is not ready")
	}
	close(warm)

	idle := start(t, overseertest.Options{}, func(s overseer.State) { <-s.GracefulShutdown })
	if isReady(idle, 200*time.Millisecond) {
		t.Error("a program that neither accepts nor calls Ready is ready")
	}
}
