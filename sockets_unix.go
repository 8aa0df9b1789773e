//go:build unix

package overseer

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seed-710818af/overseer/graceful"
)

// The sockets: opened once by the master, passed to every child as
// descriptors 4 and up, adopted there as graceful.Listeners.

// socketSet is the master's copy of the service's sockets.
type socketSet struct {
	files []*os.File // passed to every child, in Config.Addresses order
}

// close releases the master's copies; called once, when the service stops.
func (s *socketSet) close() {
	closeAll(s.files)
	s.files = nil
}

// openSockets opens the configured addresses in the master.
func openSockets(addrs []string) (*socketSet, error) {
	files := make([]*os.File, 0, len(addrs))
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("overseer: listen on %s: %w", addr, err)
		}
		f, err := socketFile(l.(*net.TCPListener))
		l.Close()
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("overseer: socket of %s: %w", addr, err)
		}
		files = append(files, f)
	}
	return &socketSet{files: files}, nil
}

// closeAll closes files.
func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// socketFile returns a duplicate of l's socket for passing to children.
//
// The file is made in blocking mode on purpose. exec.Cmd.Start calls Fd
// on every file it passes, and Fd switches a file that os considers
// non-blocking to blocking mode. The mode belongs to the socket, shared
// with every child that inherited it, so a running child's accept would
// turn into a blocking system call that Close cannot interrupt. A file that
// starts out blocking is left alone by Fd; each child makes its own copy
// non-blocking again when it adopts the socket (net.FileListener).
func socketFile(l syscall.Conn) (*os.File, error) {
	raw, err := l.SyscallConn()
	if err != nil {
		return nil, err
	}
	var dup int
	var dupErr error
	if err := raw.Control(func(fd uintptr) {
		dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		if dupErr == nil {
			dupErr = unix.SetNonblock(dup, false)
		}
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("dup socket: %w", dupErr)
	}
	return os.NewFile(uintptr(dup), "overseer-socket"), nil
}

// adoptSockets wraps the n sockets a child inherited from its master.
func adoptSockets(n int) ([]*graceful.Listener, error) {
	var out []*graceful.Listener
	for i := 0; i < n; i++ {
		f := os.NewFile(uintptr(firstListFD+i), "overseer-listener")
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("overseer child: inherit listener %d: %w", i, err)
		}
		out = append(out, graceful.NewListener(l))
	}
	return out, nil
}
