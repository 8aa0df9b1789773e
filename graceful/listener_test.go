package graceful_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/graceful"
)

// listen returns a tracking listener on a free 127.0.0.1 port.
func listen(t *testing.T) *graceful.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := graceful.NewListener(l)
	t.Cleanup(func() { gl.Close() })
	return gl
}

// dialAccepted connects to l and waits (at most 5s) until l has accepted
// and is tracking the connection. The caller's test closes it at the end.
func dialAccepted(t *testing.T, l *graceful.Listener) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for l.Active() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if l.Active() == 0 {
		t.Fatal("the connection was not accepted within 5s")
	}
	return conn
}

// slowHandler answers after ?sleep=.
var slowHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
		time.Sleep(d)
	}
	io.WriteString(w, "ok")
})

// get fetches url with client and returns the body.
func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestShutdownClosesIdleKeepAliveAtBoundary(t *testing.T) {
	l := listen(t)
	go http.Serve(l, slowHandler)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	if _, err := get(client, "http://"+l.Addr().String()+"/"); err != nil {
		t.Fatal(err)
	}
	if n := l.Active(); n != 1 {
		t.Fatalf("Active() = %d with one idle keep-alive connection, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %s with only an idle connection", took)
	}
	if n := l.Active(); n != 0 {
		t.Errorf("Active() = %d after Shutdown", n)
	}
}

func TestShutdownWaitsForInFlightRequest(t *testing.T) {
	l := listen(t)
	go http.Serve(l, slowHandler)
	client := &http.Client{Timeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		body, err := get(client, "http://"+l.Addr().String()+"/?sleep=300ms")
		if err == nil && body != "ok" {
			err = errors.New("body " + body)
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for l.Active() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the request is being handled
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("in-flight request failed: %v", err)
	}
}

func TestShutdownReturnsContextErrorWhenStuck(t *testing.T) {
	l := listen(t)
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(time.Second) // holds the connection, never reads
		}
	}()
	dialAccepted(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
}

func TestStopAcceptingHoldsAcceptUntilClose(t *testing.T) {
	l := listen(t)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	<-l.Accepting()
	time.Sleep(20 * time.Millisecond)
	l.StopAccepting()
	select {
	case err := <-errc:
		t.Fatalf("Accept returned %v after StopAccepting; it must wait for Close", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("a stopped listener still accepted a connection")
	}
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}

func TestSettleWaitsForFirstRequest(t *testing.T) {
	l := listen(t)
	served := make(chan struct{})
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Write(buf[:n])
		close(served)
		c.Read(buf) // wait for the client to go
	}()
	conn := dialAccepted(t, l)
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Settle(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Settle with a connection that sent nothing = %v, want DeadlineExceeded", err)
	}
	conn.Write([]byte("ping"))
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the first request was not answered")
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := l.Settle(ctx); err != nil {
		t.Fatalf("Settle after the first request was answered = %v", err)
	}
}

// TestSettleWaitsForSplitHeader: a client that sends its request header
// in pieces is not settled until the header is complete, so an
// http.Server shut down after Settle still answers it.
func TestSettleWaitsForSplitHeader(t *testing.T) {
	l := listen(t)
	srv := &http.Server{Handler: slowHandler}
	go srv.Serve(l)
	conn := dialAccepted(t, l)
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the server reads the first piece and waits for more
	l.StopAccepting()
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := l.Settle(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Settle with half a request header read = %v, want DeadlineExceeded", err)
	}
	if _, err := conn.Write([]byte("\r\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := l.Settle(ctx); err != nil {
		t.Fatalf("Settle after the header was complete = %v", err)
	}
	go srv.Shutdown(ctx)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request was dropped by the shutdown: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
}

func TestFinishBacklogAcceptsQueuedConnections(t *testing.T) {
	l := listen(t)
	const queued = 5
	for i := 0; i < queued; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	accepted := make(chan net.Conn, queued+1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	<-l.Accepting()
	start := time.Now()
	l.FinishBacklog()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("FinishBacklog took %s", took)
	}
	deadline := time.After(5 * time.Second)
	n := 0
	for n < queued {
		select {
		case c := <-accepted:
			c.Close()
			n++
		case <-deadline:
			t.Fatalf("%d of %d queued connections accepted", n, queued)
		}
	}
	l.Close()
	select {
	case _, open := <-accepted:
		if open {
			t.Error("a connection was accepted after FinishBacklog returned")
		}
	case <-time.After(5 * time.Second):
		t.Error("Accept still blocked after Close")
	}
}
