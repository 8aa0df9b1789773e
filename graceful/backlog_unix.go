//go:build unix

package graceful

import (
	"net"
	"syscall"
)

// shrinkBacklog sets the socket's accept queue to its minimum, so the
// kernel stops queueing new connections (it drops their SYNs; the clients
// retry and are refused once the socket closes) while the ones already
// queued can still be accepted.
func shrinkBacklog(l net.Listener) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.Listen(int(fd), 0)
	})
}
