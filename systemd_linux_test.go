package overseer_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSystemd plays systemd's part for a service: a unix datagram socket
// for NOTIFY_SOCKET that collects the notifications, and keeps the
// descriptors sent with FDSTORE=1 by FDNAME, as FileDescriptorStoreMax=
// makes systemd do.
type fakeSystemd struct {
	path string
	conn *net.UnixConn

	mu   sync.Mutex
	msgs []string
	fds  map[string]*os.File
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSystemd{path: path, conn: conn, fds: map[string]*os.File{}}
	go s.receive()
	t.Cleanup(func() {
		conn.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, f := range s.fds {
			f.Close()
		}
	})
	return s
}

// receive records every notification until the socket is closed.
func (s *fakeSystemd) receive() {
	buf, oob := make([]byte, 4096), make([]byte, 1024)
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		var fds []int
		if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, c := range cmsgs {
				if rights, err := unix.ParseUnixRights(&c); err == nil {
					fds = append(fds, rights...)
				}
			}
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, msg)
		name := ""
		for _, line := range strings.Split(msg, "\n") {
			if v, ok := strings.CutPrefix(line, "FDNAME="); ok {
				name = v
			}
		}
		for _, fd := range fds {
			if !strings.Contains(msg, "FDSTORE=1") || s.fds[name] != nil {
				unix.Close(fd) // not for the store, or a duplicate: systemd keeps one
				continue
			}
			s.fds[name] = os.NewFile(uintptr(fd), name)
		}
		s.mu.Unlock()
	}
}

// all returns the notifications so far, one string each.
func (s *fakeSystemd) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// waitFor waits until a notification containing every one of keys arrived
// after index from, and returns its index.
func (s *fakeSystemd) waitFor(t *testing.T, from int, keys ...string) int {
	t.Helper()
	found := -1
	ok := waitUntil(15*time.Second, func() bool {
		msgs := s.all()
		for i := from; i < len(msgs); i++ {
			all := true
			for _, k := range keys {
				all = all && strings.Contains(msgs[i], k)
			}
			if all {
				found = i
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no notification with %q after #%d within 15s; got %q", keys, from, s.all())
	}
	return found
}

// get returns the descriptor stored under name, or nil.
func (s *fakeSystemd) get(name string) *os.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fds[name]
}
