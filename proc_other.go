//go:build !unix

package overseer

import (
	"errors"
	"runtime"
	"syscall"
)

// supported: this platform cannot hand sockets to a new process, so Run
// runs the program in-process.
const supported = false

// platform names this platform in messages.
const platform = runtime.GOOS

// Signals, as exported by jpillora/overseer. On this platform they exist
// so that programs compile; nothing sends them.
var (
	// SIGUSR1 is the first user-defined signal (not delivered here).
	SIGUSR1 = syscall.Signal(0xa)
	// SIGUSR2 is the second user-defined signal (not delivered here).
	SIGUSR2 = syscall.Signal(0xc)
	// SIGTERM asks the program to stop.
	SIGTERM = syscall.SIGTERM
)

var errUnsupported = errors.New("overseer: handover is not supported on " + platform)

func runChild(*Config) error  { return errUnsupported }
func runMaster(*Config) error { return errUnsupported }
