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
