package overseer

import (
	"net"
	"time"
)

// DisabledState is the State of a program that runs without overseer.
var DisabledState = State{Enabled: false}

// State describes the program's process to the program.
type State struct {
	// Enabled is true when the program runs in an overseer child process,
	// with restarts and upgrades available.
	Enabled bool
	// ID is the SHA-256 hash of the running binary, in hex.
	ID string
	// StartedAt is when this child process started.
	StartedAt time.Time
	// Listener is the first of Listeners, or nil if there are none.
	Listener net.Listener
	// Listeners are the inherited stream sockets (TCP and Unix), one per
	// stream entry of Config.Addresses, in that order; datagram entries
	// are in PacketConns instead, so with only stream addresses (the usual
	// case) Listeners[i] is Addresses[i]. Each is a *graceful.Listener:
	// closing it stops this process accepting without affecting the
	// others. Addr reports the bound address, such as the port the kernel
	// chose for a port 0, which stays the same across restarts.
	Listeners []net.Listener
	// PacketConns are the inherited datagram sockets (UDP), one per udp://
	// entry of Config.Addresses, in that order.
	//
	// During a restart the old and the new child share each socket, and
	// the kernel hands every datagram to exactly one process that reads.
	// A program must stop reading when GracefulShutdown closes (Close its
	// PacketConn, which affects this process only, or set a past read
	// deadline), answer what it has already read and return; datagrams it
	// does not read stay queued for the new child. Without a stream
	// listener, a child is ready as soon as it starts (see State.Ready).
	PacketConns []net.PacketConn
	// Address is the first of Addresses.
	Address string
	// Addresses are the addresses from Config.
	Addresses []string
	// GracefulShutdown is closed when this process must drain: stop
	// accepting, finish in-flight work and return from Program.
	GracefulShutdown chan bool
	// BinPath is the path of the binary overseer runs and upgrades.
	BinPath string

	// ready reports readiness to the master; nil outside a child.
	ready func()
}

// Ready tells the master that this child can serve, so the previous child
// may start draining. Calling it is optional: a child is ready as soon as
// its program first calls Accept on any of its Listeners (or at once when it
// has none). Call Ready earlier to hand over sooner. It is safe to call more
// than once and from any goroutine; outside an overseer child it does
// nothing.
func (s State) Ready() {
	if s.ready != nil {
		s.ready()
	}
}
