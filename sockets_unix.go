//go:build unix

package overseer

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-710818af/overseer/graceful"
)

// The sockets: opened once by the master (or taken over from systemd, see
// sockets_activation_unix.go), passed to every child as descriptors 4 and
// up, adopted there as graceful.Listeners (stream sockets) and
// net.PacketConns (datagram sockets).

// socketSet is the master's copy of the service's sockets.
type socketSet struct {
	files  []*os.File    // passed to every child, in Config.Addresses order
	unlink []socketEntry // Unix socket files the master created, removed at close
}

// socketEntry identifies a Unix socket file the master created, so that
// close removes that file and not one that has replaced it since.
type socketEntry struct {
	path     string
	dev, ino uint64
}

// close releases the master's copies and removes the Unix socket files it
// created; called once, when the service stops. Children still draining
// keep serving the connections they have; nobody can connect any more.
func (s *socketSet) close() {
	closeAll(s.files)
	s.files = nil
	for _, e := range s.unlink {
		var st unix.Stat_t
		if unix.Lstat(e.path, &st) == nil && uint64(st.Dev) == e.dev && uint64(st.Ino) == e.ino {
			_ = os.Remove(e.path)
		}
	}
	s.unlink = nil
}

// openSockets opens the configured addresses in the master. Sockets
// passed by systemd socket activation (LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES) are used for the addresses they match; the others are
// opened here. log may be nil (slog's default logger).
func openSockets(addrs []string, log *slog.Logger) (*socketSet, error) {
	if log == nil {
		log = slog.Default()
	}
	parsed, err := parseAddresses(addrs)
	if err != nil {
		return nil, err
	}
	passed, err := takeActivatedSockets()
	if err != nil {
		return nil, err
	}
	assigned := matchActivated(parsed, passed)
	set := &socketSet{}
	fail := func(err error) (*socketSet, error) {
		set.close()
		for _, p := range passed {
			p.file.Close()
		}
		return nil, err
	}
	for i, a := range parsed {
		if j := assigned[i]; j >= 0 {
			log.Info("using a socket passed by systemd", "address", a.raw, "fd_name", passed[j].name, "local", sockaddrString(passed[j].local))
			set.files = append(set.files, passed[j].file)
			passed[j].file = nil
			continue
		}
		f, entry, err := openSocket(a)
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
		if entry != nil {
			set.unlink = append(set.unlink, *entry)
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

// openSocket opens one address and returns the master's blocking-mode copy
// of its socket, plus the socket file to remove at stop for a Unix socket.
func openSocket(a sockAddr) (*os.File, *socketEntry, error) {
	var (
		c     syscall.Conn
		entry *socketEntry
		err   error
	)
	switch {
	case a.network == "unix":
		var l *net.UnixListener
		l, entry, err = listenUnix(a)
		if l != nil {
			defer l.Close()
		}
		c = l
	case a.stream():
		var l net.Listener
		l, err = net.Listen(a.network, a.address)
		if l != nil {
			defer l.Close()
			c, _ = l.(syscall.Conn)
		}
	default:
		var p net.PacketConn
		p, err = net.ListenPacket(a.network, a.address)
		if p != nil {
			defer p.Close()
			c, _ = p.(syscall.Conn)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("overseer: listen on %s: %w", a.raw, err)
	}
	f, err := socketFile(c)
	if err != nil {
		if entry != nil {
			_ = os.Remove(entry.path)
		}
		return nil, nil, fmt.Errorf("overseer: socket of %s: %w", a.raw, err)
	}
	return f, entry, nil
}

// listenUnix creates a Unix stream socket. A socket file left by a process
// that is gone (connecting to it is refused) is removed first; a path where
// something still listens, or that is not a socket, is an error. Closing
// the returned listener leaves the file in place: the socket lives on in
// the master's dup and the children, and socketSet.close removes the file.
func listenUnix(a sockAddr) (*net.UnixListener, *socketEntry, error) {
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
	l.SetUnlinkOnClose(false)
	if a.abstract() {
		return l, nil, nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(a.address, &st); err != nil {
		l.Close()
		return nil, nil, fmt.Errorf("stat the new socket file: %w", err)
	}
	return l, &socketEntry{path: a.address, dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// bindUnix binds and listens on a's Unix socket. With a mode from the
// address, the file is created with exactly that mode: bind creates it as
// 0777 less the umask, so the umask is set for the call. The umask is
// process-wide, which is acceptable here: the master opens its sockets at
// start-up, before it starts anything else that creates files.
func bindUnix(a sockAddr) (*net.UnixListener, error) {
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
// non-blocking again when it adopts the socket (net.FileListener,
// net.FilePacketConn).
func socketFile(l syscall.Conn) (*os.File, error) {
	if l == nil {
		return nil, errors.New("not a socket")
	}
	raw, err := l.SyscallConn()
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
// mode (see socketFile).
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

// adoptSockets wraps the n sockets a child inherited from its master, in
// order: stream sockets become listeners, datagram sockets packet conns.
// Each descriptor's kind is read from the socket itself (SO_TYPE).
func adoptSockets(n int) ([]*graceful.Listener, []net.PacketConn, error) {
	var (
		listeners []*graceful.Listener
		packets   []net.PacketConn
	)
	fail := func(err error) ([]*graceful.Listener, []net.PacketConn, error) {
		for _, l := range listeners {
			l.Close()
		}
		for _, p := range packets {
			p.Close()
		}
		return nil, nil, err
	}
	for i := 0; i < n; i++ {
		fd := firstListFD + i
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return fail(fmt.Errorf("overseer child: inherited descriptor %d is not a socket: %w", fd, err))
		}
		f := os.NewFile(uintptr(fd), "overseer-socket")
		if typ == unix.SOCK_DGRAM {
			p, err := net.FilePacketConn(f)
			f.Close()
			if err != nil {
				return fail(fmt.Errorf("overseer child: inherit datagram socket %d: %w", i, err))
			}
			packets = append(packets, p)
			continue
		}
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fail(fmt.Errorf("overseer child: inherit listener %d: %w", i, err))
		}
		listeners = append(listeners, graceful.NewListener(l))
	}
	return listeners, packets, nil
}
