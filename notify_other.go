//go:build !linux

package overseer

import (
	"log/slog"
	"time"
)

// notifier does nothing outside Linux: systemd runs only there. (Only
// Unix has a master; elsewhere this is unused.)
type notifier struct{}

func newNotifier(*slog.Logger) *notifier     { return nil }
func (n *notifier) send(...string)           {}
func (n *notifier) reloading(string)         {}
func watchdogInterval() time.Duration        { return 0 }
func (n *notifier) storeFDs([]int, []string) {}
func fdStoreOffered() bool                   { return false }
