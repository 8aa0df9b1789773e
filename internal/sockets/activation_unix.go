//go:build unix

package sockets

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// systemd socket activation, in the master.
//
// When LISTEN_PID is the master's pid, LISTEN_FDS sockets start at
// descriptor 3, optionally named by the colon-separated LISTEN_FDNAMES
// (FileDescriptorName= in the .socket unit). Each configured address takes
// the passed socket that:
//
//  1. has the name the address gives with "?name=NAME" (systemd's
//     FileDescriptorName=, which cannot contain a colon, so an address is
//     named by this parameter rather than by its own text), or, for an
//     address without one, the name its socket had in systemd's file
//     descriptor store ("overseer-" and its index, see fdstore_unix.go),
//     or else
//  2. has the same kind and local address: a TCP or UDP socket bound to
//     the address's IP (an unspecified host such as ":80" matches 0.0.0.0
//     or [::]) and port (a configured port 0 never matches by address), a
//     Unix socket bound to the same path.
//
// An address no passed socket matches is opened by the master as usual,
// with a warning; if that fails, the error says no passed socket matched.
// A passed socket no address takes is closed, with a warning. The
// variables are removed from the environment whether or not they were for
// this process, so neither children nor the program's subprocesses see
// them; children get the sockets as overseer's own descriptors 4 and up.

// The socket activation protocol's variables and first descriptor.
const (
	envListenPID     = "LISTEN_PID"
	envListenFDs     = "LISTEN_FDS"
	envListenFDNames = "LISTEN_FDNAMES"
	listenFDsStart   = 3
)

// activatedSocket is one socket passed by systemd, moved off its original
// descriptor into a blocking-mode, close-on-exec file (see blockingFile).
type activatedSocket struct {
	file   *os.File // nil once an address has taken it
	name   string
	stream bool
	local  unix.Sockaddr
}

// takeActivated takes the sockets passed to this process by
// socket activation, if any, and removes the protocol's variables from the
// environment.
func takeActivated() ([]*activatedSocket, error) {
	pid, fds, names := os.Getenv(envListenPID), os.Getenv(envListenFDs), os.Getenv(envListenFDNames)
	for _, k := range []string{envListenPID, envListenFDs, envListenFDNames} {
		os.Unsetenv(k)
	}
	if pid == "" || fds == "" {
		return nil, nil
	}
	if p, err := strconv.Atoi(pid); err != nil || p != os.Getpid() {
		return nil, nil // meant for another process
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("overseer: socket activation: bad %s=%q", envListenFDs, fds)
	}
	var nameList []string
	if names != "" {
		nameList = strings.Split(names, ":")
	}
	var out []*activatedSocket
	fail := func(err error) ([]*activatedSocket, error) {
		for _, s := range out {
			s.file.Close()
		}
		return nil, fmt.Errorf("overseer: socket activation: %w", err)
	}
	for i := 0; i < n; i++ {
		fd := listenFDsStart + i
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return fail(fmt.Errorf("descriptor %d is not a socket: %w", fd, err))
		}
		s := &activatedSocket{stream: typ == unix.SOCK_STREAM}
		if i < len(nameList) {
			s.name = nameList[i]
		}
		if typ != unix.SOCK_STREAM && typ != unix.SOCK_DGRAM {
			return fail(fmt.Errorf("descriptor %d (%q): only stream and datagram sockets are supported", fd, s.name))
		}
		if s.stream {
			if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && on == 0 {
				return fail(fmt.Errorf("descriptor %d (%q) is not listening; Accept=yes units are not supported", fd, s.name))
			}
		}
		if s.local, err = unix.Getsockname(fd); err != nil {
			return fail(fmt.Errorf("descriptor %d (%q): getsockname: %w", fd, s.name, err))
		}
		dup, err := blockingDup(fd)
		if err != nil {
			return fail(fmt.Errorf("descriptor %d (%q): %w", fd, s.name, err))
		}
		unix.Close(fd)
		s.file = os.NewFile(uintptr(dup), "overseer-socket")
		out = append(out, s)
	}
	return out, nil
}

// matchActivated returns, for each address, the index of the passed socket
// it takes, or -1: first by name, then by kind and local address.
func matchActivated(addrs []Addr, passed []*activatedSocket) []int {
	assigned := make([]int, len(addrs))
	taken := make([]bool, len(passed))
	for i := range assigned {
		assigned[i] = -1
	}
	for i, a := range addrs {
		for j, p := range passed {
			if !taken[j] && p.stream == a.stream() && (a.name != "" && p.name == a.name || a.name == "" && storedIndex(p.name) == i) {
				assigned[i], taken[j] = j, true
				break
			}
		}
	}
	for i, a := range addrs {
		if assigned[i] >= 0 {
			continue
		}
		for j, p := range passed {
			if !taken[j] && p.stream == a.stream() && sameAddress(a, p.local) {
				assigned[i], taken[j] = j, true
				break
			}
		}
	}
	return assigned
}

// sameAddress reports whether a socket bound to sa is what a describes.
func sameAddress(a Addr, sa unix.Sockaddr) bool {
	if a.network == "unix" {
		u, ok := sa.(*unix.SockaddrUnix)
		if !ok {
			return false
		}
		if a.abstract() {
			return u.Name == a.address
		}
		want, err := filepath.Abs(a.address)
		return err == nil && filepath.Clean(u.Name) == want
	}
	var (
		ip   net.IP
		port int
		v6   bool
	)
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		ip, port = net.IP(s.Addr[:]), s.Port
	case *unix.SockaddrInet6:
		ip, port, v6 = net.IP(s.Addr[:]), s.Port, true
	default:
		return false
	}
	switch a.network {
	case "tcp4", "udp4":
		if v6 {
			return false
		}
	case "tcp6", "udp6":
		if !v6 {
			return false
		}
	}
	host, portStr, err := net.SplitHostPort(a.address)
	if err != nil {
		return false
	}
	wantPort, err := net.LookupPort(strings.TrimRight(a.network, "46"), portStr)
	if err != nil || wantPort == 0 || wantPort != port {
		return false
	}
	if host == "" {
		return ip.IsUnspecified()
	}
	if want := net.ParseIP(host); want != nil {
		return want.Equal(ip)
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return false
	}
	for _, want := range ips {
		if want.Equal(ip) {
			return true
		}
	}
	return false
}

// sockaddrString formats a socket address for logs.
func sockaddrString(sa unix.Sockaddr) string {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(s.Addr[:]).String(), strconv.Itoa(s.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(s.Addr[:]).String(), strconv.Itoa(s.Port))
	case *unix.SockaddrUnix:
		return s.Name
	}
	return fmt.Sprintf("%T", sa)
}
