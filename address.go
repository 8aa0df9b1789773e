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
// Any entry may end in parameters, "?key=value", several joined by "&":
//
//	name=NAME   with systemd socket activation, the passed socket named
//	            NAME (FileDescriptorName= in the .socket unit, which cannot
//	            contain a colon) serves this entry; see
//	            sockets_activation_unix.go
//	mode=0660   Unix sockets only: the socket file's permission bits, in
//	            octal. Without it they follow the umask. The file has them
//	            from the moment it exists, so a narrower mode never leaves
//	            a window open. A socket passed by systemd keeps the mode its
//	            .socket unit gave it (SocketMode=).
//
// Stream sockets (TCP, Unix) become State.Listeners, datagram sockets (UDP)
// State.PacketConns, each in Addresses order. The master creates a Unix
// socket's file, replacing a stale one that nobody listens on, and removes
// it only when the service stops.

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// sockAddr is one parsed Config.Addresses entry.
type sockAddr struct {
	raw     string      // as configured
	network string      // "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6" or "unix"
	address string      // host:port, or the socket path for "unix"
	name    string      // the systemd socket name from "?name=", if any
	mode    fs.FileMode // a Unix socket file's permission bits from "?mode=", or 0
}

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
	if i := strings.LastIndex(s, "?"); i >= 0 {
		if err := a.parseParams(s[i+1:]); err != nil {
			return a, err
		}
		s = s[:i]
	}
	a, err := a.parseKind(s)
	if err == nil && a.mode != 0 && (a.network != "unix" || a.abstract()) {
		err = fmt.Errorf("overseer: address %q: mode= applies only to a Unix socket with a file", a.raw)
	}
	return a, err
}

// parseParams parses the parameters after an entry's "?" into a.
func (a *sockAddr) parseParams(query string) error {
	for _, kv := range strings.Split(query, "&") {
		key, value, _ := strings.Cut(kv, "=")
		switch key {
		case "name":
			if value == "" || strings.ContainsAny(value, ":?/") {
				return fmt.Errorf("overseer: address %q: bad socket name %q", a.raw, value)
			}
			a.name = value
		case "mode":
			mode, err := strconv.ParseUint(value, 8, 32)
			if err != nil || mode == 0 || mode > 0o777 {
				return fmt.Errorf("overseer: address %q: bad mode %q (want octal permission bits such as 0660)", a.raw, value)
			}
			a.mode = fs.FileMode(mode)
		default:
			return fmt.Errorf("overseer: address %q: unknown parameter %q (want name= or mode=)", a.raw, key)
		}
	}
	return nil
}

// parseKind parses an entry without its parameters into a.
func (a sockAddr) parseKind(s string) (sockAddr, error) {
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
			if a.mode != 0 {
				if err := os.Chmod(a.address, a.mode); err != nil {
					return listeners, packets, fmt.Errorf("overseer: set the mode of %s: %w", a.raw, err)
				}
			}
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
