package graceful_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConnKeepsTCPFastPaths: the wrapper still offers what net/http
// looks for on a *net.TCPConn: ReadFrom (sendfile) and CloseWrite.
func TestConnKeepsTCPFastPaths(t *testing.T) {
	l := listen(t)
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			got <- c
		}
	}()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var c net.Conn
	select {
	case c = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
	}
	defer c.Close()
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Error("*graceful.Conn hides io.ReaderFrom: net/http would lose sendfile")
	}
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		t.Error("*graceful.Conn hides CloseWrite")
	}
}

// TestServeFileThroughListener: a static file is served intact through a
// tracking listener (the ReadFrom path).
func TestServeFileThroughListener(t *testing.T) {
	dir := t.TempDir()
	content := strings.Repeat("overseer ", 200000) // 1.8 MB
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	l := listen(t)
	go http.Serve(l, http.FileServer(http.Dir(dir)))
	body, err := get(&http.Client{Timeout: 10 * time.Second}, "http://"+l.Addr().String()+"/f")
	if err != nil {
		t.Fatal(err)
	}
	if body != content {
		t.Fatalf("got %d bytes, want %d", len(body), len(content))
	}
}
