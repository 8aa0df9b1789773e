package overseer

import (
	"os"
	"time"
)

// runInProcess runs the program in this process, without restarts, on
// listeners it opens itself: the fallback when overseer cannot start. A
// program never gets a nil Listener for a configured address: if one cannot
// be opened, the process exits 1 with the reason.
func runInProcess(c *Config) {
	if c.Program == nil {
		return
	}
	state := State{
		Enabled:          false,
		StartedAt:        time.Now(),
		Address:          c.Address,
		Addresses:        c.Addresses,
		GracefulShutdown: make(chan bool),
	}
	if exe, err := os.Executable(); err == nil {
		state.BinPath = exe
	}
	ls, ps, err := listenAll(c.Addresses)
	if err != nil {
		logger(c).Error("cannot listen; exiting", "err", err)
		os.Exit(1)
	}
	state.Listeners, state.PacketConns = ls, ps
	if len(ls) > 0 {
		state.Listener = ls[0]
	}
	logger(c).Warn("running the program in this process: restarts and upgrades are off", "platform", platform)
	c.Program(state)
}
