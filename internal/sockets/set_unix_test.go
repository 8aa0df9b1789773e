//go:build unix

package sockets

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOpenKeepsBlockingCopies: the master's copies are blocking (so that
// exec leaves the shared socket's mode alone), close-on-exec, and Close
// removes the Unix socket file the master created, but not a file that
// has replaced it since.
func TestOpenKeepsBlockingCopies(t *testing.T) {
	t.Setenv("LISTEN_PID", "") // no socket activation here
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	set, err := Open(mustParse(t, "127.0.0.1:0", "udp://127.0.0.1:0", "unix:"+sock+"?mode=0600"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Files()) != 3 {
		t.Fatalf("%d files, want 3", len(set.Files()))
	}
	for i, f := range set.Files() {
		fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_NONBLOCK != 0 {
			t.Errorf("file %d: flags %#x, %v; want blocking", i, fl, err)
		}
		fd, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil || fd&unix.FD_CLOEXEC == 0 {
			t.Errorf("file %d: fd flags %#x, %v; want close-on-exec", i, fd, err)
		}
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket file %v, %v; want mode 0600", fi, err)
	}
	set.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file after Close: %v, want it removed", err)
	}

	set, err = Open(mustParse(t, "unix:"+sock), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sock, []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	set.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("Close removed a file that replaced the socket: %v", err)
	}
}

// TestAdopt: a child adopts the master's copies as a graceful listener and
// a packet conn, by the socket's own type, and they serve.
func TestAdopt(t *testing.T) {
	t.Setenv("LISTEN_PID", "")
	set, err := Open(mustParse(t, "127.0.0.1:0", "udp://127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	first := freeDescriptors(t, len(set.Files()))
	for i, f := range set.Files() {
		if err := unix.Dup2(int(f.Fd()), first+i); err != nil {
			t.Fatal(err)
		}
	}
	ls, ps, err := Adopt(first, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || len(ps) != 1 {
		t.Fatalf("adopted %d listeners and %d packet conns, want 1 and 1", len(ls), len(ps))
	}
	defer ls[0].Close()
	defer ps[0].Close()
	go func() {
		if c, err := ls[0].Accept(); err == nil {
			io.WriteString(c, "hello")
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", ls[0].Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); err != nil || string(b) != "hello" {
		t.Errorf("read %q, %v; want hello", b, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, _, err := Adopt(int(r.Fd()), 1); err == nil {
		t.Error("Adopt accepted a pipe")
	}
}

// freeDescriptors returns the first of n consecutive unused descriptors.
func freeDescriptors(t *testing.T, n int) int {
	t.Helper()
	for first := 200; first < 1000; first++ {
		free := true
		for fd := first; fd < first+n && free; fd++ {
			_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			free = err == unix.EBADF
		}
		if free {
			return first
		}
	}
	t.Fatal("no free descriptors between 200 and 1000")
	return -1
}
