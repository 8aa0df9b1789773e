//go:build unix

package sockets

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// socketPath identifies a Unix socket file this process created, so that
// removing it later removes that file and not one that has replaced it
// since.
type socketPath struct {
	path     string
	dev, ino uint64
}

// remove removes the socket file if it is still the one p describes.
func (p socketPath) remove() {
	var st unix.Stat_t
	if unix.Lstat(p.path, &st) == nil && uint64(st.Dev) == p.dev && uint64(st.Ino) == p.ino {
		_ = os.Remove(p.path)
	}
}

// listenUnix creates a Unix stream socket. A socket file left by a process
// that is gone (connecting to it is refused) is removed first; a path where
// something still listens, or that is not a socket, is an error. The
// listener removes the file when it is closed, unless told otherwise
// (net.UnixListener.SetUnlinkOnClose), as the master does: there the socket
// lives on in the master's copy and the children, and Set.Close removes
// the file.
func listenUnix(a Addr) (net.Listener, *socketPath, error) {
	l, err := bindUnix(a)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) && !a.abstract() {
		if serr := removeStaleSocket(a.address); serr != nil {
			return nil, nil, serr
		}
		l, err = bindUnix(a)
	}
	if err != nil {
		return nil, nil, err
	}
	if a.abstract() {
		return l, nil, nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(a.address, &st); err != nil {
		l.Close()
		return nil, nil, fmt.Errorf("stat the new socket file: %w", err)
	}
	return l, &socketPath{path: a.address, dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// bindUnix binds and listens on a's Unix socket. With a mode from the
// address, the file is created with exactly that mode: bind creates it as
// 0777 less the umask, so the umask is set for the call. The umask is
// process-wide, which is acceptable here: sockets are opened at start-up,
// before anything else is started that creates files.
func bindUnix(a Addr) (*net.UnixListener, error) {
	addr := &net.UnixAddr{Name: a.address, Net: "unix"}
	if a.mode == 0 {
		return net.ListenUnix("unix", addr)
	}
	umask := unix.Umask(int(0o777 &^ a.mode))
	defer unix.Umask(umask)
	return net.ListenUnix("unix", addr)
}

// staleProbeTimeout bounds the connect that tells a stale socket file from
// a live one.
const staleProbeTimeout = time.Second

// removeStaleSocket removes path if it is a Unix socket nobody listens on.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("%s is in use: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	c, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		c.Close()
		return fmt.Errorf("another process is listening on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s exists and cannot be probed, so it may be in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}
