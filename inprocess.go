package overseer

import (
	"net"
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
	for _, addr := range c.Addresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			logger(c).Error("cannot listen; exiting", "address", addr, "err", err)
			os.Exit(1)
		}
		state.Listeners = append(state.Listeners, l)
	}
	if len(state.Listeners) > 0 {
		state.Listener = state.Listeners[0]
	}
	logger(c).Warn("running the program in this process: restarts and upgrades are off", "platform", platform)
	c.Program(state)
}
