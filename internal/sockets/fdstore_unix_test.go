//go:build unix

package sockets

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStoreNamesMatch: a socket that comes back from systemd's file
// descriptor store under the name StoreNames gave it is taken by its
// address, even one on port 0 that no address match could find; a named
// address keeps its own name; another index or kind is not taken.
func TestStoreNamesMatch(t *testing.T) {
	addrs, err := Parse([]string{"127.0.0.1:0", "unix:/run/a.sock?name=web", "udp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	names := StoreNames(addrs)
	if want := []string{"overseer-0", "web", "overseer-2"}; !slices.Equal(names, want) {
		t.Fatalf("StoreNames = %v, want %v", names, want)
	}
	lo := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 40000}
	passed := []*activatedSocket{
		{name: "overseer-2", stream: true, local: lo}, // index 2 is a datagram address
		{name: "web", stream: true, local: &unix.SockaddrUnix{Name: "/elsewhere"}},
		{name: "overseer-0", stream: true, local: lo},
		{name: "overseer-7", stream: false, local: lo},
	}
	if got, want := matchActivated(addrs, passed), []int{2, 1, -1}; !slices.Equal(got, want) {
		t.Fatalf("matchActivated = %v, want %v", got, want)
	}
}
