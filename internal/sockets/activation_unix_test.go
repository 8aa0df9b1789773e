//go:build unix

package sockets

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestSocketActivationMatch(t *testing.T) {
	v4 := func(a, b, c, d byte, port int) unix.Sockaddr {
		return &unix.SockaddrInet4{Addr: [4]byte{a, b, c, d}, Port: port}
	}
	any6 := &unix.SockaddrInet6{Port: 80}
	cases := []struct {
		addr string
		sa   unix.Sockaddr
		want bool
	}{
		{"127.0.0.1:80", v4(127, 0, 0, 1, 80), true},
		{"127.0.0.1:80", v4(127, 0, 0, 1, 81), false},
		{"127.0.0.1:80", v4(127, 0, 0, 2, 80), false},
		{":80", v4(0, 0, 0, 0, 80), true},
		{":80", any6, true},
		{"tcp4://:80", any6, false},
		{"tcp6://:80", any6, true},
		{":80", v4(127, 0, 0, 1, 80), false},
		{"127.0.0.1:0", v4(127, 0, 0, 1, 0), false}, // port 0 matches only by name
		{"udp://127.0.0.1:53", v4(127, 0, 0, 1, 53), true},
		{"unix:/run/a.sock", &unix.SockaddrUnix{Name: "/run/a.sock"}, true},
		{"unix:///run/./a.sock", &unix.SockaddrUnix{Name: "/run/a.sock"}, true},
		{"unix:/run/a.sock", &unix.SockaddrUnix{Name: "/run/b.sock"}, false},
		{"unix:/run/a.sock", v4(127, 0, 0, 1, 80), false},
	}
	for _, c := range cases {
		a, err := parse(c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sameAddress(a, c.sa); got != c.want {
			t.Errorf("sameAddress(%q, %s) = %v, want %v", c.addr, sockaddrString(c.sa), got, c.want)
		}
	}

	// Names first, then addresses; a socket serves one address at most;
	// stream and datagram sockets never mix.
	addrs, _ := Parse([]string{"127.0.0.1:80", "unix:/x.sock?name=api", "udp://127.0.0.1:80", "127.0.0.1:80"})
	passed := []*activatedSocket{
		{name: "api", stream: true, local: &unix.SockaddrUnix{Name: "/elsewhere.sock"}},
		{name: "web", stream: true, local: v4(127, 0, 0, 1, 80)},
		{name: "dns", stream: false, local: v4(127, 0, 0, 1, 80)},
	}
	got := matchActivated(addrs, passed)
	want := []int{1, 0, 2, -1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("matchActivated = %v, want %v", got, want)
		}
	}
}
