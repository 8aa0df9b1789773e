package overseer

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// notifier speaks systemd's notification protocol (sd_notify): datagrams
// of newline-separated KEY=VALUE lines to the unix socket NOTIFY_SOCKET
// names. A nil *notifier does nothing, which is what a service that
// systemd did not start (or started without Type=notify) gets.
type notifier struct {
	conn *net.UnixConn
	log  *slog.Logger
}

// newNotifier connects to NOTIFY_SOCKET, if set, and removes it from the
// environment so that children (and their children) do not notify too.
func newNotifier(log *slog.Logger) *notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		log.Warn("cannot reach systemd's NOTIFY_SOCKET; readiness will not be reported", "err", err)
		return nil
	}
	return &notifier{conn: conn, log: log}
}

// send sends one notification.
func (n *notifier) send(lines ...string) {
	if n == nil {
		return
	}
	if _, err := n.conn.Write([]byte(strings.Join(lines, "\n"))); err != nil {
		n.log.Warn("systemd notification failed", "msg", lines, "err", err)
	}
}

// storeFDs hands copies of fds to systemd's file descriptor store, each
// under its name (FDNAME applies to a whole message, hence one message
// per descriptor). FDPOLL=0: a listening socket is never "hung up", and
// systemd should not watch it. A failure is logged: the service runs on,
// without sockets that survive a crash of the master.
func (n *notifier) storeFDs(fds []int, names []string) {
	if n == nil {
		return
	}
	for i, fd := range fds {
		msg := "FDSTORE=1\nFDPOLL=0\nFDNAME=" + names[i]
		if err := n.sendRights(msg, fd); err != nil {
			n.log.Warn("cannot hand a socket to systemd's file descriptor store (is FileDescriptorStoreMax= set?)", "fd_name", names[i], "err", err)
			continue
		}
		n.log.Info("socket handed to systemd's file descriptor store", "fd_name", names[i])
	}
}

// sendRights sends msg with a copy of fd attached (SCM_RIGHTS). The
// connection is connected, which net's WriteMsgUnix refuses for a
// datagram socket, hence sendmsg on the descriptor.
func (n *notifier) sendRights(msg string, fd int) error {
	raw, err := n.conn.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	err = raw.Write(func(s uintptr) bool {
		sendErr = unix.Sendmsg(int(s), []byte(msg), unix.UnixRights(fd), nil, 0)
		return sendErr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return sendErr
}

// fdStoreOffered reports whether systemd says it keeps descriptors for
// this service ($FDSTORE, set by systemd 254 and later from
// FileDescriptorStoreMax=), and removes the variable from the
// environment.
func fdStoreOffered() bool {
	v := os.Getenv("FDSTORE")
	os.Unsetenv("FDSTORE")
	n, err := strconv.Atoi(v)
	return err == nil && n > 0
}

// reloading tells systemd a restart began, as Type=notify-reload expects.
func (n *notifier) reloading(status string) {
	if n == nil {
		return
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	usec := ts.Nano() / 1000
	n.send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(usec, 10), "STATUS="+status)
}

// watchdogInterval returns how often to send WATCHDOG=1 (half of
// WATCHDOG_USEC), or 0 when systemd asked for no watchdog for this
// process. It removes the variables from the environment.
func watchdogInterval() time.Duration {
	usec, pid := os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	os.Unsetenv("WATCHDOG_USEC")
	os.Unsetenv("WATCHDOG_PID")
	if pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Microsecond / 2
}
