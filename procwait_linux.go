package overseer

import (
	"os"

	"golang.org/x/sys/unix"
)

// awaitExit returns once process pid has exited (it is then a zombie
// until reaped), parking the calling goroutine in the runtime's poller
// on a pidfd instead of holding an OS thread in a blocking wait. The
// caller then reaps it with exec.Cmd.Wait, which returns at once. Go keeps
// every thread it ever made, so a thread blocked per child during each
// handover would stay with the master for good. On kernels without pidfd
// (before 5.3) it returns at once and Wait blocks a thread, as before.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		// A pidfd is readable once its process has exited.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return err != nil || n > 0
	})
}
