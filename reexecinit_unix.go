//go:build unix

package overseer

import (
	"os"
	"os/signal"
	"runtime"
)

// earlySignals, in a master image that came from a re-exec, holds the
// master's signals from this package's initialisation on; runMaster takes
// it over. The old image ignored them across execve, and Go restores a
// handler for most of them as the new image starts: without this, a
// SIGTERM or SIGUSR2 in the milliseconds before runMaster's signal.Notify
// would kill the master (the default action) with the service's child
// running. Nil in every other process.
var earlySignals chan os.Signal

// init, in a master image that came from a re-exec, locks the main
// goroutine to the main thread, where the spawner will run (runMaster):
// execve turned the old image's spawner thread into this main thread, so
// the adopted child's parent-death signal is tied to it, and it must be
// the thread that starts every later child and performs every later
// execve (see spawner.exec). Go never ends the main thread.
func init() {
	if os.Getenv(envReexec) == "" || os.Getenv(envMasterCheck) != "" {
		return
	}
	runtime.LockOSThread()
	earlySignals = make(chan os.Signal, 16)
	signal.Notify(earlySignals, forwardedSignals...)
}
