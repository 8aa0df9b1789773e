//go:build unix

package sockets

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Set is the master's copy of the service's sockets: opened once (or taken
// over from systemd, see activation_unix.go), passed to every child, and
// closed when the service stops. The master never accepts on them.
type Set struct {
	files  []*os.File   // blocking-mode copies, in List order
	unlink []socketPath // Unix socket files the master created, removed at close
}

// Files returns the sockets to pass to a child, in List order. Each is in
// blocking mode (see blockingFile), so exec.Cmd.Start, which calls Fd on
// every file it passes, leaves the mode alone.
func (s *Set) Files() []*os.File { return s.files }

// Close releases the master's copies and removes the Unix socket files it
// created; called once, when the service stops. Children still draining
// keep serving the connections they have; nobody can connect any more.
func (s *Set) Close() {
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
	for _, p := range s.unlink {
		p.remove()
	}
	s.unlink = nil
}

// Open opens addrs in the master. Sockets passed by systemd socket
// activation (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) are used for the
// addresses they match; the others are opened here. log may be nil
// (slog's default logger).
func Open(addrs List, log *slog.Logger) (*Set, error) {
	if log == nil {
		log = slog.Default()
	}
	passed, err := takeActivated()
	if err != nil {
		return nil, err
	}
	assigned := matchActivated(addrs, passed)
	set := &Set{}
	fail := func(err error) (*Set, error) {
		set.Close()
		for _, p := range passed {
			if p.file != nil {
				p.file.Close()
			}
		}
		return nil, err
	}
	for i, a := range addrs {
		if j := assigned[i]; j >= 0 {
			log.Info("using a socket passed by systemd", "address", a.raw, "fd_name", passed[j].name, "local", sockaddrString(passed[j].local))
			if passed[j].stream && storedIndex(passed[j].name) == i {
				if err := relistenFile(passed[j].file); err != nil {
					log.Warn("cannot restore the accept queue of a socket from systemd's store", "address", a.raw, "err", err)
				}
			}
			set.files = append(set.files, passed[j].file)
			passed[j].file = nil
			continue
		}
		f, path, err := openCopy(a)
		if err != nil {
			if len(passed) > 0 {
				err = fmt.Errorf("%w (none of the %d sockets passed by systemd matches this address)", err, len(passed))
			}
			return fail(err)
		}
		if len(passed) > 0 {
			log.Warn("address not among the sockets passed by systemd; opened it", "address", a.raw)
		}
		set.files = append(set.files, f)
		if path != nil {
			set.unlink = append(set.unlink, *path)
		}
	}
	for _, p := range passed {
		if p.file != nil {
			log.Warn("socket passed by systemd matches no configured address; closed it", "fd_name", p.name, "local", sockaddrString(p.local))
			p.file.Close()
		}
	}
	return set, nil
}

// openCopy opens one address and returns the master's blocking-mode copy
// of its socket, plus the socket file to remove at stop for a Unix socket.
func openCopy(a Addr) (*os.File, *socketPath, error) {
	o, err := listen(a)
	if err != nil {
		return nil, nil, err
	}
	if u, ok := o.listener.(*net.UnixListener); ok {
		u.SetUnlinkOnClose(false) // the socket lives on in the copy
	}
	defer o.close()
	f, err := blockingFile(o.conn())
	if err != nil {
		if o.path != nil {
			_ = os.Remove(o.path.path)
		}
		return nil, nil, fmt.Errorf("overseer: socket of %s: %w", a.raw, err)
	}
	return f, o.path, nil
}

// conn returns the socket's descriptor holder.
func (o opened) conn() syscall.Conn {
	var c any = o.listener
	if o.packet != nil {
		c = o.packet
	}
	sc, _ := c.(syscall.Conn)
	return sc
}

// close closes the socket. A Unix listener removes its socket file unless
// it was told not to (see Open).
func (o opened) close() {
	if o.listener != nil {
		o.listener.Close()
	}
	if o.packet != nil {
		o.packet.Close()
	}
}

// blockingFile returns a duplicate of c's socket for passing to children.
//
// The file is made in blocking mode on purpose. exec.Cmd.Start calls Fd
// on every file it passes, and Fd switches a file that os considers
// non-blocking to blocking mode. The mode belongs to the socket, shared
// with every child that inherited it, so a running child's accept would
// turn into a blocking system call that Close cannot interrupt. A file that
// starts out blocking is left alone by Fd; each child makes its own copy
// non-blocking again when it adopts the socket (net.FileListener,
// net.FilePacketConn).
func blockingFile(c syscall.Conn) (*os.File, error) {
	if c == nil {
		return nil, errors.New("not a socket")
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var dup int
	var dupErr error
	if err := raw.Control(func(fd uintptr) {
		dup, dupErr = blockingDup(int(fd))
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	return os.NewFile(uintptr(dup), "overseer-socket"), nil
}

// blockingDup duplicates fd close-on-exec and puts the socket in blocking
// mode (see blockingFile).
func blockingDup(fd int) (int, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("dup socket: %w", err)
	}
	if err := unix.SetNonblock(dup, false); err != nil {
		unix.Close(dup)
		return -1, fmt.Errorf("socket blocking mode: %w", err)
	}
	return dup, nil
}
