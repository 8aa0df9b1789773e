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
	// Listeners are the inherited sockets, one per Config.Addresses entry,
	// in that order. Each is a *graceful.Listener: closing it stops this
	// process accepting without affecting the others.
	Listeners []net.Listener
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
