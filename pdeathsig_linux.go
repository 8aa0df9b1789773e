package overseer

import "syscall"

// childSysProcAttr makes the kernel send SIGTERM to a child when the
// master dies, so the child drains instead of living on as an orphan. The
// signal is tied to the OS thread that started the child, which is why
// children are started from a goroutine locked to a thread that never exits
// (see spawner).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// checkSysProcAttr makes the kernel kill a sanity-checked binary when the
// master dies, so a check under way is not orphaned (a hanging check
// would otherwise live on). The fetch goroutine that starts it is not
// locked to its thread, and Go ends only threads whose locked goroutine
// exits, so the signal means what it should here too.
func checkSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// onMainThread reports whether the calling goroutine runs on the
// process's main thread, the one a child adopted across a re-exec has as
// its parent thread.
func onMainThread() bool { return syscall.Gettid() == syscall.Getpid() }
