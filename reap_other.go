//go:build !linux

package overseer

import "log/slog"

// pidSet records processes the master waits for itself; outside Linux
// there is no reaper, so nothing needs them.
type pidSet struct{}

func (pidSet) add(int)    {}
func (pidSet) remove(int) {}

var ownPids pidSet

// startReaper does nothing outside Linux. (Only Unix has a master;
// elsewhere this is unused.)
func startReaper(*slog.Logger) {}
