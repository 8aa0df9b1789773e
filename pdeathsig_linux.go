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
