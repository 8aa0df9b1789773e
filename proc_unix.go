//go:build unix

package overseer

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// supported: every Unix can pass listening sockets to a child process.
const supported = true

// platform names this platform in messages.
const platform = runtime.GOOS

// Signals, as exported by jpillora/overseer.
var (
	// SIGUSR1 is the first user-defined signal.
	SIGUSR1 = syscall.SIGUSR1
	// SIGUSR2 is the second user-defined signal, the default RestartSignal.
	SIGUSR2 = syscall.SIGUSR2
	// SIGTERM asks the service to stop: the child drains, then the master
	// exits with its code.
	SIGTERM = syscall.SIGTERM
)

// forwardedSignals are the signals the master passes on to the active
// child. Signals that concern only the master's own process (SIGCHLD,
// SIGPIPE, SIGURG used by Go's scheduler, SIGWINCH) are never forwarded.
var forwardedSignals = []os.Signal{
	syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2,
}

// isStopSignal reports whether s asks the service to stop: the master
// then kills a child that has not exited after TerminateTimeout.
func isStopSignal(s os.Signal) bool {
	return s == syscall.SIGTERM || s == syscall.SIGINT
}

// drainSignals make a child drain.
func drainSignals(restart os.Signal) []os.Signal {
	return []os.Signal{restart, syscall.SIGTERM, syscall.SIGINT}
}

// exitCode is the code the master exits with for a child that ended with
// state: its exit status, or 128+N if signal N killed it.
func exitCode(state *os.ProcessState) int {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}

// newControlPair returns the two ends of a child's control channel, a
// connected pair of Unix stream sockets.
func newControlPair() (masterEnd, childEnd *os.File, err error) {
	// Under the fork lock, as os/exec does for its pipes: a process forked
	// at the same moment (another child, a sanity check) must not inherit
	// both ends before they are close-on-exec, or the channel's end would
	// not tell a child its master is gone. Not every Unix has
	// SOCK_CLOEXEC (macOS has not), so the lock serves all of them.
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("control channel: socketpair: %w", err)
	}
	// The master's end is non-blocking so that reading it parks a goroutine
	// in the runtime's poller rather than a whole thread per child. The
	// child's end is passed as it is (exec would make it blocking anyway).
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("control channel: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "overseer-control"), os.NewFile(uintptr(fds[1]), "overseer-control-child"), nil
}

// isTextBusy reports whether err is ETXTBSY: exec of a file another
// process still has open for writing. A fork elsewhere in this process can
// briefly hold a just-written file open (golang.org/issue/22315).
func isTextBusy(err error) bool {
	return err != nil && errors.Is(err, syscall.ETXTBSY)
}

// adoptControl returns the child's end of the control channel, made
// non-blocking so that waiting on it does not hold a thread, and
// close-on-exec so that the program's own subprocesses do not inherit it
// (the master would then see the channel open after the child is gone).
func adoptControl(fd int) *os.File {
	unix.CloseOnExec(fd)
	_ = unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), "overseer-control")
}
