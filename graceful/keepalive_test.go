package graceful_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/graceful"
)

// TestEndKeepAlives: after EndKeepAlives, a plain http.Serve's responses
// on a keep-alive connection say "Connection: close", with the body
// unchanged, and the client opens a new connection for its next request.
func TestEndKeepAlives(t *testing.T) {
	l := listen(t)
	body := strings.Repeat("0123456789\r\n\r\n", 1000)
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	url := "http://" + l.Addr().String() + "/"
	fetch := func() *http.Response {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != body {
			t.Fatalf("body changed (%d bytes, %v)", len(got), err)
		}
		return resp
	}
	if resp := fetch(); resp.Close {
		t.Fatal("marked Connection: close before EndKeepAlives")
	}
	l.EndKeepAlives()
	if resp := fetch(); !resp.Close {
		t.Fatalf("not marked after EndKeepAlives: %v", resp.Header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.WaitKeepAlivesEnded(ctx, time.Second); err != nil {
		t.Fatalf("WaitKeepAlivesEnded after every client was told: %v", err)
	}
}

// TestUpgradedConnectionUntouched: a connection that switched protocols
// with a 101 is never marked and does not hold Accept after Close.
func TestUpgradedConnectionUntouched(t *testing.T) {
	l := listen(t)
	served := make(chan error, 1)
	go func() {
		served <- http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			// Echo lines until the client leaves; the lines look like
			// HTTP responses and must pass unchanged.
			for {
				line, err := rw.ReadString('\n')
				if err != nil {
					return
				}
				rw.WriteString(line)
				rw.Flush()
			}
		}))
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	l.EndKeepAlives()
	const msg = "HTTP/1.1 200 OK\r\n"
	io.WriteString(conn, msg)
	line, err := br.ReadString('\n')
	if err != nil || line != msg {
		t.Fatalf("echo: %q %v", line, err)
	}
	l.Close()
	select {
	case err := <-served:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return: the upgraded connection held Accept")
	}
}

// TestAcceptWaitsForRequestsInFlight: after Release, Serve returns only
// once the request in flight has been answered, while an idle keep-alive
// connection does not hold it. After Close (the program's own, as
// http.Server.Shutdown and Close do), Serve returns at once.
func TestAcceptWaitsForRequestsInFlight(t *testing.T) {
	t.Run("Release", func(t *testing.T) { testAcceptAfterClose(t, (*graceful.Listener).Release, true) })
	t.Run("Close", func(t *testing.T) { testAcceptAfterClose(t, (*graceful.Listener).Close, false) })
}

func testAcceptAfterClose(t *testing.T, closeFn func(*graceful.Listener) error, waits bool) {
	l := listen(t)
	inHandler := make(chan struct{}, 4)
	answered := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") == "" {
			io.WriteString(w, "ok")
			return
		}
		inHandler <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "ok")
		close(answered)
	})
	served := make(chan error, 1)
	go func() { served <- http.Serve(l, handler) }()
	idle := &http.Transport{}
	defer idle.CloseIdleConnections()
	if _, err := get(&http.Client{Transport: idle, Timeout: 5 * time.Second}, "http://"+l.Addr().String()+"/"); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() {
		_, err := get(&http.Client{Timeout: 10 * time.Second}, "http://"+l.Addr().String()+"/?slow=1")
		slow <- err
	}()
	select {
	case <-inHandler:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request did not reach its handler within 10s")
	}
	_ = closeFn(l)
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s")
	}
	select {
	case <-answered:
		if !waits {
			t.Error("Serve returned after Close only once the request in flight was answered: it waited")
		}
	default:
		if waits {
			t.Error("Serve returned after Release before the request in flight was answered")
		}
	}
	if err := <-slow; err != nil {
		t.Errorf("request in flight: %v", err)
	}
}
