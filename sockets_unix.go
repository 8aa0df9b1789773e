//go:build unix

package overseer

import (
	"log/slog"
	"net"
	"os"

	"github.com/seed-710818af/overseer/graceful"
	"github.com/seed-710818af/overseer/internal/sockets"
)

// The service's sockets, as the master and the child see them; the socket
// code itself (addresses, opening, socket activation, adoption) is in
// internal/sockets.

// socketSet is the master's copy of the service's sockets.
type socketSet struct {
	files []*os.File // passed to every child from firstListFD on, in Config.Addresses order
	set   *sockets.Set
}

// openSockets opens the configured addresses in the master, or takes them
// from systemd socket activation.
func openSockets(addrs sockets.List, log *slog.Logger) (*socketSet, error) {
	set, err := sockets.Open(addrs, log)
	if err != nil {
		return nil, err
	}
	return &socketSet{files: set.Files(), set: set}, nil
}

// close releases the master's copies and removes the Unix socket files it
// created; called once, when the service stops.
func (s *socketSet) close() {
	s.set.Close()
	s.files = nil
}

// adoptSockets wraps the n sockets a child inherited from its master, in
// order: stream sockets become listeners, datagram sockets packet conns.
func adoptSockets(n int) ([]*graceful.Listener, []net.PacketConn, error) {
	return sockets.Adopt(firstListFD, n)
}
