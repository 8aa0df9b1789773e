//go:build unix

package overseer

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listenFile opens a real listener and returns the master-style copy of
// its socket, as the master passes to children, and the listener.
func listenFile(t testing.TB, network, addr string) (*os.File, net.Listener) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, l
}

func serveHealth(t testing.TB, l net.Listener, status int) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Header.Get("X-Overseer-Health-Check") != "1" {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		w.WriteHeader(status)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
}

func TestHealthCheckHTTP(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		network string
		addr    string
		status  int
		wantErr string
	}{
		{"tcp wildcard, 200", "tcp", ":0", 200, ""},
		{"tcp loopback, 204", "tcp", "127.0.0.1:0", 204, ""},
		{"tcp, 500", "tcp", "127.0.0.1:0", 500, "500 Internal Server Error"},
		{"tcp, 301 is not healthy", "tcp", "127.0.0.1:0", 301, "301"},
		{"unix socket, 200", "unix", filepath.Join(dir, "s.sock"), 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, l := listenFile(t, tc.network, tc.addr)
			serveHealth(t, l, tc.status)
			h := newHealthChecker(HealthCheck{Path: "/healthz", Timeout: 5 * time.Second}, []*os.File{f}, nil)
			err := h.run(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("check failed: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("check = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// TestHealthCheckHTTPFailures: a service that accepts and never answers
// fails the check at its Timeout; one that hangs up, or answers something
// that is not HTTP, fails it at once.
func TestHealthCheckHTTPFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		serve   func(net.Conn)
		wantErr string
	}{
		{"never answers", func(c net.Conn) { time.Sleep(5 * time.Second); c.Close() }, "no answer within the timeout"},
		{"hangs up", func(c net.Conn) { readRequest(c); c.Close() }, "EOF"},
		{"not HTTP", func(c net.Conn) { readRequest(c); c.Write([]byte("SSH-2.0-OpenSSH\r\n")); c.Close() }, "malformed HTTP"},
		{"chunked 200", func(c net.Conn) {
			readRequest(c)
			c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
			c.Close()
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, l := listenFile(t, "tcp", "127.0.0.1:0")
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go tc.serve(c)
				}
			}()
			h := newHealthChecker(HealthCheck{Path: "/healthz", Timeout: 300 * time.Millisecond}, []*os.File{f}, nil)
			start := time.Now()
			err := h.run(context.Background())
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the check took %s with a 300ms Timeout", d)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("check failed: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("check = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// readRequest reads c up to the end of a request's header, so that closing
// c afterwards ends it with FIN, not with a reset for unread data.
func readRequest(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = http.ReadRequest(bufio.NewReader(c))
}

func TestHealthCheckFuncAndTimeout(t *testing.T) {
	bad := errors.New("database unreachable")
	h := newHealthChecker(HealthCheck{Func: func(context.Context) error { return bad }}, nil, nil)
	if err := h.run(context.Background()); !errors.Is(err, bad) {
		t.Errorf("check = %v, want %v", err, bad)
	}
	slow := newHealthChecker(HealthCheck{Timeout: 50 * time.Millisecond, Func: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}, nil, nil)
	start := time.Now()
	if err := slow.run(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("check = %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a check with a 50ms timeout took %s", took)
	}
	noSocket := newHealthChecker(HealthCheck{Path: "/healthz"}, nil, nil)
	if err := noSocket.run(context.Background()); err == nil || !strings.Contains(err.Error(), "no stream socket") {
		t.Errorf("check without a stream socket = %v", err)
	}
}

// TestHealthCheckerReportsAndStops: results reach the loop's inbox until
// stop, and nothing after.
func TestHealthCheckerReportsAndStops(t *testing.T) {
	f, l := listenFile(t, "tcp", "127.0.0.1:0")
	serveHealth(t, l, 500)
	inbox := make(chan loopMsg, 16)
	h := newHealthChecker(HealthCheck{Path: "/healthz", Interval: 10 * time.Millisecond}, []*os.File{f}, inbox)
	inst := &installed{id: "x"}
	stop := h.start(inst)
	for i := 0; i < 2; i++ {
		select {
		case msg := <-inbox:
			if hm, ok := msg.(healthMsg); !ok || hm.inst != inst || hm.err == nil {
				t.Fatalf("got %#v, want a failed check of inst", msg)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no health result within 10s")
		}
	}
	stop()
	time.Sleep(50 * time.Millisecond)
	for len(inbox) > 0 {
		<-inbox // at most one in flight when stopped
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(inbox); n > 0 {
		t.Errorf("%d results after stop", n)
	}
}

// BenchmarkHealthCheckHTTP is the cost of one HTTP health check, from the
// master's side: a fresh connection to the service's socket, GET, 200.
func BenchmarkHealthCheckHTTP(b *testing.B) {
	f, l := listenFile(b, "tcp", "127.0.0.1:0")
	serveHealth(b, l, 200)
	h := newHealthChecker(HealthCheck{Path: "/healthz"}, []*os.File{f}, nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := h.run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
