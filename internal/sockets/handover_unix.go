//go:build unix

package sockets

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// A Set across a re-exec of the master: the old image clears the
// close-on-exec flag on exactly its sockets' descriptors and names them
// to the new image, which rebuilds the Set from those numbers.

// SocketFile is a Unix socket file a Set created and removes at Close, if
// it is still that file (same device and inode).
type SocketFile struct {
	Path     string
	Dev, Ino uint64
}

// Inheritable clears close-on-exec on every socket of s, so that an
// execve keeps them at their descriptor numbers, and returns those
// numbers, in List order, and the socket files s removes at Close.
// Restore undoes it if the exec does not happen.
func (s *Set) Inheritable() ([]int, []SocketFile, error) {
	fds := make([]int, 0, len(s.files))
	for _, f := range s.files {
		fd, err := setCloseOnExec(f, false)
		if err != nil {
			s.Restore()
			return nil, nil, fmt.Errorf("socket %s: %w", f.Name(), err)
		}
		fds = append(fds, fd)
	}
	files := make([]SocketFile, 0, len(s.unlink))
	for _, p := range s.unlink {
		files = append(files, SocketFile{Path: p.path, Dev: p.dev, Ino: p.ino})
	}
	return fds, files, nil
}

// Restore makes the sockets close-on-exec again, after an exec that
// failed: the children the master starts later get them by other means.
func (s *Set) Restore() {
	for _, f := range s.files {
		_, _ = setCloseOnExec(f, true)
	}
}

// Inherit rebuilds the Set an earlier image of this process handed over:
// fds are the sockets, in addrs order, and files the socket files to
// remove at Close. Each descriptor must be a socket of the kind its
// address names (stream or datagram); it becomes close-on-exec again, and
// its blocking mode is left alone. The addresses themselves
// are not compared: the inherited sockets are what the service listens
// on, whatever addrs now say (the caller logs a difference).
func Inherit(addrs List, fds []int, files []SocketFile) (*Set, error) {
	if len(fds) != len(addrs) {
		return nil, fmt.Errorf("overseer: %d sockets inherited for %d addresses", len(fds), len(addrs))
	}
	set := &Set{}
	for i, fd := range fds {
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return nil, fmt.Errorf("overseer: inherited descriptor %d is not a socket: %w", fd, err)
		}
		if want := addrs[i].stream(); want != (typ == unix.SOCK_STREAM) {
			return nil, fmt.Errorf("overseer: inherited descriptor %d is not the kind of socket %s names", fd, addrs[i].raw)
		}
		// The mode stays as it is: it belongs to the socket, which the
		// running child has made non-blocking; a blocking accept there
		// could not be interrupted. os.NewFile leaves the mode of a
		// non-blocking descriptor alone, in Fd too.
		unix.CloseOnExec(fd)
		set.files = append(set.files, os.NewFile(uintptr(fd), "overseer-socket"))
	}
	for _, f := range files {
		set.unlink = append(set.unlink, socketPath{path: f.Path, dev: f.Dev, ino: f.Ino})
	}
	return set, nil
}

// setCloseOnExec sets or clears f's close-on-exec flag without touching
// its blocking mode (Fd would), and returns its descriptor number.
func setCloseOnExec(f *os.File, on bool) (int, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	var fd int
	var opErr error
	err = raw.Control(func(u uintptr) {
		fd = int(u)
		flag := 0
		if on {
			flag = unix.FD_CLOEXEC
		}
		_, opErr = unix.FcntlInt(u, syscall.F_SETFD, flag)
	})
	if err != nil {
		return -1, err
	}
	return fd, opErr
}

// SetCloseOnExec sets or clears the close-on-exec flag of f, a file of
// the poller or not, without changing its blocking mode, and returns its
// descriptor number.
func SetCloseOnExec(f *os.File, on bool) (int, error) { return setCloseOnExec(f, on) }
