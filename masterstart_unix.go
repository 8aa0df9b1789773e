//go:build unix

package overseer

import (
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/internal/sockets"
)

// runMaster becomes the master: it opens the sockets (or inherits them
// from its previous image after a re-exec), starts the first child (or
// adopts the running one), runs the event loop (master_unix.go) and exits
// the process with the service's exit code.
func runMaster(c *Config) error {
	h, err := takeHandover()
	if err != nil {
		c.Logger.Error("master re-executed with an unusable handover; exiting (the child drains as if its master had died)", "err", err)
		os.Exit(1)
	}
	if h == nil {
		return startMaster(c, nil, newSpawner())
	}
	// This image came from a re-exec: the main goroutine is locked to the
	// main thread (reexecinit_unix.go), which becomes the spawner's.
	s := &spawner{requests: make(chan spawnRequest)}
	go func() {
		if err := startMaster(c, h, s); err != nil {
			c.Logger.Error("master re-executed but cannot take over; exiting (the child drains as if its master had died)", "err", err)
			os.Exit(1)
		}
	}()
	if !onMainThread() {
		c.Logger.Warn("overseer.Run was not called on the main goroutine: a child adopted across a re-exec may be told its master died at the next one")
	}
	s.serve()
	return nil
}

// startMaster wires the event loop to real processes, signals, timers,
// sockets and systemd, starts or adopts the first child, and runs the
// loop; it exits the process once the loop is done. h is the handover
// of a re-exec, or nil.
func startMaster(c *Config, h *handover, sp *spawner) error {
	log := c.Logger.With("role", "master", "pid", os.Getpid())
	bin, err := currentBinary(log)
	if err != nil {
		return err
	}
	keepEnv := keptEnviron("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
	var socks *socketSet
	if h != nil {
		socks, err = inheritSockets(c, h)
	} else {
		socks, err = openSockets(c.addrs, log)
	}
	if err != nil {
		return err
	}
	inbox := make(chan loopMsg, 64)
	m := newMaster(c, log, bin)
	pl := &processLauncher{binPath: bin.path, sockets: socks.files, inbox: inbox, spawner: sp}
	m.launcher = pl
	m.timers = realTimers{inbox: inbox}
	m.closeSockets = socks.close
	startReaper(log)
	m.notify = newNotifier(log)
	if store := fdStoreOffered() || c.FDStore; store && h == nil {
		// A re-executed image's sockets are in the store already.
		m.notify.storeFDs(socks.set.Descriptors(), sockets.StoreNames(c.addrs))
	}
	m.sink = newEventSink(c.OnEvent, log)
	watchdog := watchdogInterval()
	signals := append(forwardedSignals, c.RestartSignal)
	if c.ReexecSignal != nil {
		signals = append(signals, c.ReexecSignal)
	}
	sigs := earlySignals
	if sigs == nil {
		sigs = make(chan os.Signal, 16)
	}
	signal.Notify(sigs, signals...)
	m.reexec = &processReexecer{binPath: bin.path, sockets: socks, spawner: sp, inbox: inbox, timeout: c.SanityCheckTimeout, sigs: sigs, signals: signals, keepEnv: keepEnv, sink: m.sink}
	if c.HealthCheck != nil {
		m.health = newHealthChecker(*c.HealthCheck, socks.files, inbox).start
	}
	resumed := bin.recoverReleases()
	if h != nil {
		child := m.adoptedChild(h)
		if err := pl.adopt(child, h.Child.CtlFD); err != nil {
			signal.Stop(sigs)
			return fmt.Errorf("adopt child %d: %w", h.Child.ID, err)
		}
		m.unproven = resumed
		m.adopt(h, child)
	} else if err := m.start(resumed); err != nil {
		signal.Stop(sigs)
		socks.close()
		return err
	}
	go func() {
		for s := range sigs {
			inbox <- signalMsg{sig: s}
		}
	}()
	setRestarter(func() { inbox <- restartMsg{reason: "Restart() called"} })
	setReexecRequester(func() { inbox <- reexecMsg{reason: "ReexecMaster() called"} })
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
			if r, ok := c.Fetcher.(fetcher.Resumable); ok && h != nil && h.Fetcher != "" {
				if err := r.Resume(h.Fetcher); err != nil {
					log.Warn("the fetcher cannot continue from the previous image; what is published now counts as seen", "err", err)
				}
			}
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
