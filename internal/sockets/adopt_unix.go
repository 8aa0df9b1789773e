//go:build unix

package sockets

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/seed-710818af/overseer/graceful"
)

// Adopt wraps the n sockets a child inherited from its master at
// descriptors first, first+1, …, in order: stream sockets become
// graceful.Listeners, datagram sockets packet conns. Each descriptor's kind
// is read from the socket itself (SO_TYPE). Each socket is made
// non-blocking in the child (net.FileListener, net.FilePacketConn). On
// error the sockets adopted so far are closed.
func Adopt(first, n int) ([]*graceful.Listener, []net.PacketConn, error) {
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
		fd := first + i
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
