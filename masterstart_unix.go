//go:build unix

package overseer

import (
	"os"
	"os/signal"
	"time"
)

// runMaster becomes the master: it opens the sockets, starts the first
// child, runs the event loop (master.go) and exits the process with the
// service's exit code.
func runMaster(c *Config) error {
	log := c.Logger.With("role", "master", "pid", os.Getpid())
	bin, err := currentBinary(log)
	if err != nil {
		return err
	}
	sockets, err := openSockets(c.addrs, log)
	if err != nil {
		return err
	}
	inbox := make(chan loopMsg, 64)
	m := newMaster(c, log, bin)
	m.launcher = &processLauncher{binPath: bin.path, sockets: sockets.files, inbox: inbox, spawner: newSpawner()}
	m.timers = realTimers{inbox: inbox}
	m.closeSockets = sockets.close
	startReaper(log)
	m.notify = newNotifier(log)
	m.sink = newEventSink(c.OnEvent, log)
	watchdog := watchdogInterval()
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append(forwardedSignals, c.RestartSignal)...)
	if c.HealthCheck != nil {
		m.health = newHealthChecker(*c.HealthCheck, sockets.files, inbox).start
	}
	if err := m.start(bin.recoverReleases()); err != nil {
		signal.Stop(sigs)
		sockets.close()
		return err
	}
	go func() {
		for s := range sigs {
			inbox <- signalMsg{sig: s}
		}
	}()
	setRestarter(func() { inbox <- restartMsg{reason: "Restart() called"} })
	if watchdog > 0 {
		go func() {
			for range time.Tick(watchdog) {
				inbox <- watchdogMsg{}
			}
		}()
	}
	if c.Fetcher != nil {
		if m.fetch, err = newFetchPipeline(c, log, m.sink, bin); err != nil {
			log.Warn("upgrades disabled", "err", err)
			m.fetch = nil
		} else {
			go m.fetch.fetchLoop(inbox)
		}
	}
	code := m.run(inbox)
	if m.fetch != nil {
		m.fetch.abandon()
	}
	log.Info("exiting", "code", code)
	os.Exit(code)
	return nil
}
