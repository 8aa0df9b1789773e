package overseer

import (
	"log/slog"
	"net"
)

// notifyWorks: systemd notifications are sent on Linux.
const notifyWorks = true

// testNotifier returns a notifier that sends to conn.
func testNotifier(conn *net.UnixConn, log *slog.Logger) *notifier {
	return &notifier{conn: conn, log: log}
}
