package overseer

import (
	"net"
	"os"
	"time"

	"github.com/seed-710818af/overseer/internal/sockets"
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
	ls, ps, err := listenInProcess(c)
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

// listenInProcess opens the configured addresses in this process. validate
// has parsed them, unless it failed (Run falls back anyway): then they are
// parsed here.
func listenInProcess(c *Config) ([]net.Listener, []net.PacketConn, error) {
	addrs := c.addrs
	if addrs == nil {
		var err error
		if addrs, err = sockets.Parse(c.Addresses); err != nil {
			return nil, nil, err
		}
	}
	return sockets.Listen(addrs)
}
