package overseer

// Addresses: what Config.Address and Config.Addresses may name.
//
// An entry is either a plain "host:port" (":3000", "127.0.0.1:0",
// "[::1]:8080"), which means TCP exactly as in jpillora/overseer, or a URL
// naming the kind of socket:
//
//	tcp://host:port    TCP on every family host resolves to (like a plain entry)
//	tcp4://host:port   TCP, IPv4 only
//	tcp6://host:port   TCP, IPv6 only
//	udp://host:port    UDP (udp4://, udp6:// likewise)
//	unix:///run/x.sock a Unix stream socket at an absolute path
//	unix:/run/x.sock   the same
//	unix:x.sock        a path relative to the working directory
//	unix:@name         a Linux abstract socket (no file)
//
// Any entry may end in "?name=NAME": with systemd socket activation, the
// passed socket named NAME (FileDescriptorName= in the .socket unit, which
// cannot contain a colon) serves that entry; see sockets_activation_unix.go.
//
// Stream sockets (TCP, Unix) become State.Listeners, datagram sockets (UDP)
// State.PacketConns, each in Addresses order. The master creates a Unix
// socket's file, replacing a stale one that nobody listens on, and removes
// it only when the service stops.

import (
	"fmt"
	"net"
	"runtime"
	"strings"
)

// sockAddr is one parsed Config.Addresses entry.
type sockAddr struct {
	raw     string // as configured
	network string // "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6" or "unix"
	address string // host:port, or the socket path for "unix"
	name    string // the systemd socket name from "?name=", if any
}

// nameParam introduces an entry's systemd socket name.
const nameParam = "?name="

// stream reports whether the address is a stream (listening) socket.
func (a sockAddr) stream() bool {
	return !strings.HasPrefix(a.network, "udp")
}

// abstract reports whether a is a Linux abstract Unix socket, which has no
// file to create or remove.
func (a sockAddr) abstract() bool {
	return runtime.GOOS == "linux" && a.network == "unix" && strings.HasPrefix(a.address, "@")
}

// parseAddress parses one Config.Addresses entry.
func parseAddress(s string) (sockAddr, error) {
	a := sockAddr{raw: s}
	if i := strings.LastIndex(s, nameParam); i >= 0 {
		a.name = s[i+len(nameParam):]
		if a.name == "" || strings.ContainsAny(a.name, ":?/") {
			return a, fmt.Errorf("overseer: address %q: bad socket name %q", a.raw, a.name)
		}
		s = s[:i]
	}
	scheme, rest, ok := strings.Cut(s, ":")
	switch {
	case ok && scheme == "unix":
		// unix:///abs, unix:/abs, unix:rel, unix:@abstract; not unix://host/...
		path := rest
		if strings.HasPrefix(rest, "//") {
			path = rest[2:]
			if !strings.HasPrefix(path, "/") {
				return a, fmt.Errorf("overseer: address %q: write unix:///absolute/path or unix:relative/path", s)
			}
		}
		if path == "" || path == "@" {
			return a, fmt.Errorf("overseer: address %q: empty socket path", s)
		}
		a.network, a.address = "unix", path
		return a, nil
	case strings.Contains(s, "://"):
		scheme, hostport, _ := strings.Cut(s, "://")
		switch scheme {
		case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		default:
			return a, fmt.Errorf("overseer: address %q: unknown kind %q (want tcp, tcp4, tcp6, udp, udp4, udp6 or unix)", s, scheme)
		}
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			return a, fmt.Errorf("overseer: address %q: %w", s, err)
		}
		a.network, a.address = scheme, hostport
		return a, nil
	default:
		// A plain host:port is TCP, as it always was. An empty entry is
		// left to net.Listen, which treats it as ":0".
		if s != "" {
			if _, _, err := net.SplitHostPort(s); err != nil {
				return a, fmt.Errorf("overseer: address %q: %w", s, err)
			}
		}
		a.network, a.address = "tcp", s
		return a, nil
	}
}

// parseAddresses parses every entry of Config.Addresses.
func parseAddresses(addrs []string) ([]sockAddr, error) {
	out := make([]sockAddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := parseAddress(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// validateAddresses reports the first Config.Addresses entry that does not
// parse, for Config.validate.
func validateAddresses(addrs []string) error {
	_, err := parseAddresses(addrs)
	return err
}

// listenAll opens every address in this process: the in-process fallback's
// sockets. Stream sockets come back as listeners and datagram sockets as
// packet conns, each in Addresses order. On error nothing stays open.
func listenAll(addrs []string) (listeners []net.Listener, packets []net.PacketConn, err error) {
	parsed, err := parseAddresses(addrs)
	if err != nil {
		return nil, nil, err
	}
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
	for _, a := range parsed {
		if a.stream() {
			l, err := net.Listen(a.network, a.address)
			if err != nil {
				return listeners, packets, fmt.Errorf("overseer: listen on %s: %w", a.raw, err)
			}
			listeners = append(listeners, l)
			continue
		}
		p, err := net.ListenPacket(a.network, a.address)
		if err != nil {
			return listeners, packets, fmt.Errorf("overseer: listen on %s: %w", a.raw, err)
		}
		packets = append(packets, p)
	}
	return listeners, packets, nil
}
