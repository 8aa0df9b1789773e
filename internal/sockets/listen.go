package sockets

import (
	"fmt"
	"net"
)

// opened is one address opened in this process by listen.
type opened struct {
	listener net.Listener   // a stream socket, or nil
	packet   net.PacketConn // a datagram socket, or nil
	path     *socketPath    // the Unix socket file listen created, or nil
}

// listen opens a in this process: the one opener of an address, used by
// the master (Open) and by the in-process fallback (Listen).
func listen(a Addr) (opened, error) {
	var (
		o   opened
		err error
	)
	switch {
	case a.network == "unix":
		o.listener, o.path, err = listenUnix(a)
	case a.stream():
		o.listener, err = net.Listen(a.network, a.address)
	default:
		o.packet, err = net.ListenPacket(a.network, a.address)
	}
	if err != nil {
		return opened{}, fmt.Errorf("overseer: listen on %s: %w", a.raw, err)
	}
	return o, nil
}

// Listen opens every address in this process: the in-process fallback's
// sockets. Stream sockets come back as listeners and datagram sockets as
// packet conns, each in List order. On error nothing stays open.
func Listen(addrs List) (listeners []net.Listener, packets []net.PacketConn, err error) {
	defer func() {
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			for _, p := range packets {
				p.Close()
			}
			listeners, packets = nil, nil
		}
	}()
	for _, a := range addrs {
		o, err := listen(a)
		if err != nil {
			return listeners, packets, err
		}
		if o.listener != nil {
			listeners = append(listeners, o.listener)
		} else {
			packets = append(packets, o.packet)
		}
	}
	return listeners, packets, nil
}
