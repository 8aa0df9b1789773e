package overseer

import "sync/atomic"

// restarter is how Restart reaches this process's role: the master's event
// loop, or a child's control channel. It is package state, forced by the
// package-level Restart of the compatible API; the only other package
// state is ownPids (reap_linux.go), process-wide like the reaping it
// guards.
var restarter atomic.Pointer[func()]

// setRestarter installs f as the target of Restart.
func setRestarter(f func()) { restarter.Store(&f) }

// requestRestart calls the installed restarter, if any.
func requestRestart() {
	if f := restarter.Load(); f != nil {
		(*f)()
	}
}
