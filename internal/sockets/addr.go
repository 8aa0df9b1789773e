package sockets

import (
	"fmt"
	"io/fs"
	"net"
	"runtime"
	"strconv"
	"strings"
)

// Addr is one parsed Config.Addresses entry.
type Addr struct {
	raw     string      // as configured
	network string      // "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6" or "unix"
	address string      // host:port, or the socket path for "unix"
	name    string      // the systemd socket name from "?name=", if any
	mode    fs.FileMode // a Unix socket file's permission bits from "?mode=", or 0
}

// stream reports whether the address is a stream (listening) socket.
func (a Addr) stream() bool {
	return !strings.HasPrefix(a.network, "udp")
}

// abstract reports whether a is a Linux abstract Unix socket, which has no
// file to create or remove.
func (a Addr) abstract() bool {
	return runtime.GOOS == "linux" && a.network == "unix" && strings.HasPrefix(a.address, "@")
}

// parse parses one Config.Addresses entry.
func parse(s string) (Addr, error) {
	a := Addr{raw: s}
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
func (a *Addr) parseParams(query string) error {
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
func (a Addr) parseKind(s string) (Addr, error) {
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

// List is Config.Addresses, parsed: one Addr per entry, in order.
type List []Addr

// Parse parses every entry of Config.Addresses; the error names the first
// entry that does not parse. An empty list parses to an empty, non-nil List.
func Parse(addrs []string) (List, error) {
	out := make(List, 0, len(addrs))
	for _, s := range addrs {
		a, err := parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
