//go:build unix

package sockets

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// systemd's file descriptor store (FileDescriptorStoreMax= in the unit):
// the master hands systemd a copy of each socket under a name, and a
// master that systemd starts again after a crash gets them back through
// socket activation (activation_unix.go), where the name picks the
// address it belongs to. Meanwhile the socket stays open in systemd, so
// clients wait in its queue instead of being refused.

// storePrefix begins the name of a socket in the store whose address has
// no "?name=" of its own; the address's index follows.
const storePrefix = "overseer-"

// StoreNames returns the name under which to store each socket of addrs:
// the address's own "?name=" if it has one (so that it comes back as
// that socket activation name), else "overseer-" and its index.
func StoreNames(addrs List) []string {
	names := make([]string, len(addrs))
	for i, a := range addrs {
		names[i] = a.name
		if names[i] == "" {
			names[i] = storePrefix + strconv.Itoa(i)
		}
	}
	return names
}

// storedIndex returns the address index a socket stored as name belongs
// to, or -1 for another name.
func storedIndex(name string) int {
	rest, ok := strings.CutPrefix(name, storePrefix)
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// Descriptors returns the descriptor number of each socket, in List
// order, for sending in SCM_RIGHTS; valid while the Set is open.
func (s *Set) Descriptors() []int {
	fds := make([]int, 0, len(s.files))
	for _, f := range s.files {
		raw, err := f.SyscallConn()
		if err != nil {
			continue
		}
		_ = raw.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
	}
	return fds
}

// relisten restores the accept queue of a stream socket that comes back
// from the store: a child that lost its master shrank it while draining
// (see graceful.Listener.FinishBacklog). The kernel caps the length at
// net.core.somaxconn.
func relisten(fd int) error {
	return unix.Listen(fd, unix.SOMAXCONN)
}

// relistenFile is relisten on f's descriptor.
func relistenFile(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := raw.Control(func(fd uintptr) { lerr = relisten(int(fd)) }); err != nil {
		return err
	}
	return lerr
}
