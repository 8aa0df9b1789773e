//go:build !unix

package sockets

import (
	"fmt"
	"net"
	"os"
)

// socketPath is a Unix socket file to remove at stop; only the master,
// which exists on Unix alone, removes one.
type socketPath struct{}

// listenUnix creates a Unix stream socket, then gives its file the mode
// from the address: there is no umask to set here, so the file has the
// default mode for a moment.
func listenUnix(a Addr) (net.Listener, *socketPath, error) {
	l, err := net.Listen("unix", a.address)
	if err != nil {
		return nil, nil, err
	}
	if a.mode != 0 {
		if err := os.Chmod(a.address, a.mode); err != nil {
			l.Close()
			return nil, nil, fmt.Errorf("set the mode of the socket file: %w", err)
		}
	}
	return l, nil, nil
}
