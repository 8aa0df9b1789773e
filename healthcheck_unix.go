//go:build unix

package overseer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// healthMsg is one health check's result for a release on probation.
type healthMsg struct {
	inst *installed
	err  error
}

// healthChecker runs Config.HealthCheck every Interval and sends each
// result to the event loop, until stopped.
type healthChecker struct {
	check HealthCheck
	dial  func(ctx context.Context) (net.Conn, error) // to the service's first stream socket; nil without one
	inbox chan<- loopMsg
}

// newHealthChecker prepares checks against the first stream socket among
// files (the master's copies).
func newHealthChecker(check HealthCheck, files []*os.File, inbox chan<- loopMsg) *healthChecker {
	h := &healthChecker{check: check.withDefaults(), inbox: inbox}
	for _, f := range files {
		if network, addr, ok := streamAddress(f); ok {
			var d net.Dialer
			h.dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, network, addr) }
			break
		}
	}
	return h
}

// start checks inst's release every Interval until stop is called.
func (h *healthChecker) start(inst *installed) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(h.check.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := h.run(ctx)
			if ctx.Err() != nil {
				return
			}
			select {
			case h.inbox <- healthMsg{inst: inst, err: err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return cancel
}

// run runs one check.
func (h *healthChecker) run(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, h.check.Timeout)
	defer cancel()
	if h.check.Path != "" {
		if err := h.get(ctx); err != nil {
			return err
		}
	}
	if h.check.Func != nil {
		if err := h.check.Func(ctx); err != nil {
			return fmt.Errorf("HealthCheck.Func: %w", err)
		}
	}
	return nil
}

// get requests Path from the service and wants a 2xx answer. It speaks
// HTTP/1.1 over one new connection (so any child may answer), without
// net/http's client: a master that never fetches over HTTP then does not
// carry the client's code, and its memory, for one GET.
func (h *healthChecker) get(ctx context.Context) error {
	if h.dial == nil {
		return errors.New("HealthCheck.Path is set but the service has no stream socket to request it from")
	}
	conn, err := h.dial(ctx)
	if err != nil {
		return fmt.Errorf("GET %s: %w", h.check.Path, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := io.WriteString(conn, healthRequest(h.check.Path)); err != nil {
		return fmt.Errorf("GET %s: %w", h.check.Path, timedOut(ctx, err))
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodGet})
	if err != nil {
		return fmt.Errorf("GET %s: %w", h.check.Path, timedOut(ctx, err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", h.check.Path, resp.Status)
	}
	return nil
}

// healthRequest is the request for path (validated by Config.validate).
func healthRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\n" +
		"Host: localhost\r\n" +
		"User-Agent: overseer-health-check\r\n" +
		"X-Overseer-Health-Check: 1\r\n" +
		"Connection: close\r\n\r\n"
}

// timedOut says when err came from the check's time running out (the
// connection's deadline, which is the context's, can fire before the
// context itself reports it) or from the check being stopped.
func timedOut(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	case errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil:
		return fmt.Errorf("no answer within the timeout: %w", err)
	}
	return err
}

// streamAddress returns where to dial the stream socket f is bound to:
// loopback for a wildcard address, the path for a Unix socket.
func streamAddress(f *os.File) (network, addr string, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", "", false
	}
	var sa unix.Sockaddr
	var typ int
	_ = rc.Control(func(fd uintptr) {
		typ, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
		if err == nil {
			sa, err = unix.Getsockname(int(fd))
		}
	})
	if err != nil || typ != unix.SOCK_STREAM {
		return "", "", false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		ip := net.IP(a.Addr[:])
		if ip.IsUnspecified() {
			ip = net.IPv4(127, 0, 0, 1)
		}
		return "tcp", net.JoinHostPort(ip.String(), fmt.Sprint(a.Port)), true
	case *unix.SockaddrInet6:
		ip := net.IP(a.Addr[:])
		if ip.IsUnspecified() {
			ip = net.IPv6loopback
		}
		return "tcp", net.JoinHostPort(ip.String(), fmt.Sprint(a.Port)), true
	case *unix.SockaddrUnix:
		if a.Name == "" {
			return "", "", false
		}
		if a.Name[0] == '@' || a.Name[0] == 0 {
			return "unix", "@" + a.Name[1:], true
		}
		return "unix", a.Name, true
	}
	return "", "", false
}
