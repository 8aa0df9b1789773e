//go:build unix

package overseer

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"time"
)

// The restart sequence.
//
// One goroutine, the event loop in (*master).run, owns every piece of
// state below; everything else (signals, child exits, control messages,
// timers, the fetcher) reaches it as an event. A restart:
//
//  1. starts a new child on the same sockets (pending);
//  2. waits for it to report ready, at most ReadyTimeout;
//  3. makes it the active child and only then tells the old one to drain,
//     killing the old one if it has not exited after TerminateTimeout.
//
// A pending child that exits or is not ready in time is killed; the active
// child keeps serving, and an upgrade it came from is rolled back. Restart
// requests that arrive during a restart are folded into one more restart
// after it.

// event is something the event loop reacts to.
type event interface{}

type (
	signalEvent  struct{ sig os.Signal }
	restartEvent struct{ reason string }
	readyEvent   struct{ child *childProc }
	exitEvent    struct {
		child  *childProc
		code   int
		status string // how it ended, for logs
	}
	readyTimeoutEvent struct{ child *childProc }
	upgradeEvent      struct{ staged *stagedBinary }
	watchdogEvent     struct{}
	crashRestartEvent struct{}
)

// master is the long-lived first process.
type master struct {
	cfg     *Config
	log     *slog.Logger
	bin     *binary
	sockets *socketSet
	spawner *spawner
	events  chan event
	up      *upgrader  // nil without a Fetcher
	notify  *notifier  // systemd's NOTIFY_SOCKET; nil when not under systemd
	sink    *eventSink // Config.OnEvent; nil when unset

	// Owned by the event loop.
	nextID   int
	active   *childProc
	pending  *restart
	again    bool                // another restart was asked for during this one
	queued   *stagedBinary       // an upgrade waiting for the current restart
	unproven *installed          // installed binary no child has run successfully yet
	draining map[*childProc]bool // old children finishing their work
	stopping bool                // the service is shutting down
	exitCode int                 // what the master exits with once stopping
	failed   int                 // failed starts in a row, under a CrashPolicy
	crashed  bool                // a crash restart is scheduled
}

// restart is a restart under way.
type restart struct {
	child   *childProc
	reason  string
	begun   time.Time
	timer   *time.Timer
	timeout bool       // the child missed ReadyTimeout and was killed
	upgrade *installed // the upgrade this restart runs, if any
}

// runMaster becomes the master: it opens the sockets, starts the first
// child, and exits the process with the service's exit code.
func runMaster(c *Config) error {
	bin, err := currentBinary()
	if err != nil {
		return err
	}
	sockets, err := openSockets(c.addrs, c.Logger.With("role", "master", "pid", os.Getpid()))
	if err != nil {
		return err
	}
	m := &master{
		cfg:      c,
		log:      c.Logger.With("role", "master", "pid", os.Getpid()),
		bin:      bin,
		sockets:  sockets,
		spawner:  newSpawner(),
		events:   make(chan event, 64),
		draining: make(map[*childProc]bool),
	}
	startReaper(m.log)
	m.notify = newNotifier(m.log)
	m.sink = newEventSink(c.OnEvent, m.log)
	watchdog := watchdogInterval()
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append(forwardedSignals, c.RestartSignal)...)
	first, err := m.startChild()
	if err != nil {
		signal.Stop(sigs)
		sockets.close()
		return err
	}
	m.active = first
	m.log.Info("started", "binary", bin.path, "id", short(bin.currentID()), "child", first.id, "child_pid", first.proc.Pid, "addresses", c.Addresses)
	go func() {
		for s := range sigs {
			m.events <- signalEvent{sig: s}
		}
	}()
	setRestarter(func() { m.events <- restartEvent{reason: "Restart() called"} })
	if watchdog > 0 {
		go func() {
			for range time.Tick(watchdog) {
				m.events <- watchdogEvent{}
			}
		}()
	}
	if c.Fetcher != nil {
		if m.up, err = newUpgrader(c, m.log, m.sink, bin); err != nil {
			m.log.Warn("upgrades disabled", "err", err)
		} else {
			go m.up.fetchLoop(m.events)
		}
	}
	code := m.run()
	if m.up != nil {
		m.up.abandon()
	}
	m.log.Info("exiting", "code", code)
	os.Exit(code)
	return nil
}

// run is the event loop. It returns the exit code once the service has
// stopped and every child is gone.
func (m *master) run() int {
	for ev := range m.events {
		switch e := ev.(type) {
		case signalEvent:
			m.onSignal(e.sig)
		case restartEvent:
			m.onRestart(e.reason)
		case readyEvent:
			m.onReady(e.child)
		case readyTimeoutEvent:
			m.onReadyTimeout(e.child)
		case exitEvent:
			m.onExit(e)
		case upgradeEvent:
			m.onUpgrade(e.staged)
		case watchdogEvent:
			if m.active != nil && !m.active.readyAt.IsZero() && !m.stopping {
				m.notify.send("WATCHDOG=1")
			}
		case crashRestartEvent:
			m.onCrashRestart()
		}
		if m.stopping && m.active == nil && m.pending == nil && len(m.draining) == 0 {
			return m.exitCode
		}
	}
	return 1
}

// onSignal handles a signal to the master.
func (m *master) onSignal(s os.Signal) {
	if s == m.cfg.RestartSignal {
		m.onRestart("signal " + s.String())
		return
	}
	if m.active == nil {
		m.log.Debug("no child to forward the signal to", "signal", s)
		if isStopSignal(s) {
			m.stop("signal " + s.String())
		}
		return
	}
	m.log.Debug("forwarding signal", "signal", s, "child", m.active.id)
	m.active.signal(s)
	if isStopSignal(s) {
		m.stop("signal " + s.String())
	}
}

// stop begins shutting the service down: a pending child is killed, and
// the active one (already told to stop) is killed if it outlives
// TerminateTimeout. The master closes its copies of the sockets, so that
// once the children let go of them too, new connections are refused
// rather than queued for nobody.
func (m *master) stop(reason string) {
	if !m.stopping {
		m.log.Info("stopping", "reason", reason)
		m.notify.send("STOPPING=1", "STATUS=stopping: "+reason)
		m.sockets.close()
		if m.up != nil {
			m.up.stop()
		}
	}
	m.stopping = true
	if m.pending != nil {
		_ = m.pending.child.proc.Kill()
	}
	if m.active != nil {
		m.active.killAfter(m.cfg.TerminateTimeout, "did not stop within TerminateTimeout")
	}
}

// onRestart begins a restart, or folds the request into one under way.
func (m *master) onRestart(reason string) {
	switch {
	case m.stopping:
		m.log.Debug("restart ignored: stopping", "reason", reason)
	case m.cfg.NoRestart:
		m.log.Info("restarts are disabled (NoRestart): draining and exiting instead", "reason", reason)
		m.active.signal(SIGTERM) // a final drain: queued connections are answered too
		m.stop(reason)
	case m.pending != nil:
		m.again = true
		m.log.Debug("restart already under way; one more will follow", "reason", reason)
	default:
		m.beginRestart(reason)
	}
}

// beginRestart starts a new child from the binary on disk.
func (m *master) beginRestart(reason string) {
	up := m.unproven
	c, err := m.startChild()
	if err != nil {
		m.log.Error("restart failed: cannot start a new child; the current child keeps serving", "reason", reason, "err", err)
		m.rollback(up, "the new binary could not be started")
		return
	}
	r := &restart{child: c, reason: reason, begun: time.Now(), upgrade: up}
	r.timer = time.AfterFunc(m.cfg.ReadyTimeout, func() { m.events <- readyTimeoutEvent{child: c} })
	m.pending = r
	c.log.Info("restart begun", "reason", reason, "id", short(c.binID))
	m.notify.reloading("restarting (" + reason + ")")
	e := childEvent(EventRestartBegun, c)
	e.Reason = reason
	m.sink.emit(e)
}

// onReady completes a restart: the new child becomes active and the old
// one drains.
func (m *master) onReady(c *childProc) {
	c.readyAt = time.Now()
	ready := childEvent(EventChildReady, c)
	ready.Duration = c.readyAt.Sub(c.started)
	m.sink.emit(ready)
	r := m.pending
	if r == nil || r.child != c {
		if c == m.active {
			c.log.Info("child ready", "after", c.readyAt.Sub(c.started).Round(time.Microsecond))
			m.notify.send("READY=1", "STATUS="+m.status())
		}
		return
	}
	r.timer.Stop()
	m.pending = nil
	old := m.active
	m.active = c
	if r.upgrade != nil && m.unproven == r.upgrade {
		m.unproven = nil
	}
	c.log.Info("restart complete: new child ready", "reason", r.reason, "handover", c.readyAt.Sub(r.begun).Round(time.Microsecond))
	done := childEvent(EventRestartCompleted, c)
	done.Reason, done.Duration = r.reason, c.readyAt.Sub(r.begun)
	m.sink.emit(done)
	if old != nil {
		m.drain(old)
	}
	m.notify.send("READY=1", "STATUS="+m.status())
	m.afterRestart()
}

// drain tells an old child to finish its work and exit.
func (m *master) drain(c *childProc) {
	c.drainAt = time.Now()
	m.draining[c] = true
	m.sink.emit(childEvent(EventChildDraining, c))
	c.signal(m.cfg.RestartSignal)
	c.killAfter(m.cfg.TerminateTimeout, "did not finish draining within TerminateTimeout")
}

// onReadyTimeout kills a new child that did not become ready in time.
func (m *master) onReadyTimeout(c *childProc) {
	if c == m.active && c.readyAt.IsZero() && m.cfg.CrashPolicy != nil {
		c.log.Error("child started after a crash is not ready in time; killing it", "timeout", m.cfg.ReadyTimeout)
		_ = c.proc.Kill()
		return
	}
	if m.pending == nil || m.pending.child != c {
		return
	}
	m.pending.timeout = true
	c.log.Error("new child not ready in time; killing it", "timeout", m.cfg.ReadyTimeout)
	_ = c.proc.Kill()
}

// onExit handles a child's exit.
func (m *master) onExit(e exitEvent) {
	c := e.child
	c.stopTimers()
	exited := childEvent(EventChildExited, c)
	exited.Code = e.code
	if !c.drainAt.IsZero() {
		exited.Duration = time.Since(c.drainAt)
	}
	m.sink.emit(exited)
	switch {
	case m.pending != nil && m.pending.child == c:
		r := m.pending
		m.pending = nil
		r.timer.Stop()
		why := fmt.Sprintf("it exited with code %d before it was ready", e.code)
		if r.timeout {
			why = fmt.Sprintf("it was not ready within %s", m.cfg.ReadyTimeout)
		}
		if !m.stopping {
			c.log.Error("restart failed: the current child keeps serving", "reason", r.reason, "why", why, "status", e.status)
			failed := childEvent(EventRestartFailed, c)
			failed.Reason, failed.Err, failed.Code = r.reason, errors.New(why), e.code
			m.sink.emit(failed)
			m.rollback(r.upgrade, why)
			m.notify.send("READY=1", "STATUS=restart failed ("+why+"); "+m.status())
			m.afterRestart()
		}
	case m.draining[c]:
		delete(m.draining, c)
		c.log.Info("old child exited", "drain", time.Since(c.drainAt).Round(time.Microsecond), "code", e.code)
		if len(m.draining) == 0 && m.pending == nil {
			// A restart allocates a little (environment, buffers, exec
			// state); hand the garbage back now, so a master that has been
			// through many restarts idles as small as a fresh one.
			go debug.FreeOSMemory()
		}
	case c == m.active:
		m.active = nil
		m.exitCode = e.code
		switch {
		case m.stopping:
			c.log.Info("child exited", "code", e.code, "status", e.status)
		case m.cfg.CrashPolicy != nil:
			m.onCrash(c, e)
		default:
			c.log.Error("child exited unexpectedly; stopping with its exit code", "code", e.code, "status", e.status)
			m.stop("child exited")
		}
	}
}

// afterRestart starts what waited for the restart that just ended: a
// queued upgrade, or one more restart.
func (m *master) afterRestart() {
	if m.stopping {
		return
	}
	if s := m.queued; s != nil {
		m.queued = nil
		m.again = false
		m.onUpgrade(s)
		return
	}
	if m.again {
		m.again = false
		m.beginRestart("restart requested during the previous one")
	}
}

// onUpgrade installs a fetched, verified binary and restarts into it.
func (m *master) onUpgrade(s *stagedBinary) {
	switch {
	case m.stopping:
		s.discard()
		return
	case m.pending != nil:
		if m.queued != nil {
			m.queued.discard()
		}
		m.queued = s
		return
	}
	inst, err := m.up.install(s)
	if err != nil {
		m.log.Error("upgrade failed: cannot install the new binary; the binary on disk is unchanged", "id", short(s.id), "err", err)
		return
	}
	m.unproven = inst
	m.log.Info("upgrade installed", "from", short(inst.prevID), "to", short(inst.id))
	m.sink.emit(Event{Kind: EventUpgradeApplied, BinaryID: inst.id})
	if m.cfg.NoRestartAfterFetch {
		m.log.Info("not restarting (NoRestartAfterFetch): the next restart runs the new binary")
		return
	}
	m.onRestart("upgrade to " + short(inst.id))
}

// rollback puts back the binary an upgrade replaced, and quarantines the
// new one so it is not fetched and applied again.
func (m *master) rollback(inst *installed, why string) {
	if inst == nil {
		return
	}
	if m.unproven == inst {
		m.unproven = nil
	}
	if err := m.up.rollback(inst); err != nil {
		m.log.Error("rollback failed: the binary on disk is the rejected one; restore it by hand", "path", m.bin.path, "backup", inst.backup, "err", err)
		return
	}
	m.log.Error("upgrade rolled back: the previous binary is restored and the new one quarantined", "rejected", short(inst.id), "restored", short(inst.prevID), "why", why)
	m.sink.emit(Event{Kind: EventUpgradeRolledBack, BinaryID: inst.id, Err: errors.New(why)})
}

// startChild starts the next child from the binary on disk.
func (m *master) startChild() (*childProc, error) {
	m.nextID++
	c, err := startChild(childSpec{
		id:      m.nextID,
		binPath: m.bin.path,
		binID:   m.bin.currentID(),
		sockets: m.sockets.files,
		log:     m.log,
		events:  m.events,
		spawner: m.spawner,
	})
	if err == nil {
		m.sink.emit(childEvent(EventChildStarted, c))
	}
	return c, err
}

// status is the one-line state systemd shows (STATUS=).
func (m *master) status() string {
	if m.active == nil {
		return "no child running"
	}
	return fmt.Sprintf("serving binary %s (child %d, pid %d)", short(m.active.binID), m.active.id, m.active.proc.Pid)
}

// onCrash applies the CrashPolicy to an active child that exited on its
// own: schedule a new start with backoff, or give up after too many
// failed starts. The sockets stay open meanwhile.
func (m *master) onCrash(c *childProc, e exitEvent) {
	p := m.cfg.CrashPolicy
	if c.readyAt.IsZero() || time.Since(c.started) < p.StartPeriod {
		m.failed++
	} else {
		m.failed = 0
	}
	if m.failed > p.MaxFailedStarts {
		c.log.Error("child keeps failing to start; giving up with its exit code", "code", e.code, "failed_starts", m.failed)
		m.stop("too many failed starts")
		return
	}
	if m.pending != nil {
		// A restart is under way: its child takes over when ready.
		c.log.Error("child crashed during a restart; the new child takes over", "code", e.code)
		return
	}
	wait := p.Backoff << max(m.failed-1, 0)
	if wait > p.MaxBackoff || wait <= 0 {
		wait = p.MaxBackoff
	}
	wait = jitter(wait)
	c.log.Error("child crashed; starting a new one", "code", e.code, "status", e.status, "in", wait.Round(time.Millisecond), "failed_starts", m.failed)
	crash := childEvent(EventCrashRestart, c)
	crash.Code, crash.Duration = e.code, wait
	m.sink.emit(crash)
	m.notify.send("STATUS=child crashed (exit code " + strconv.Itoa(e.code) + "); restarting")
	m.crashed = true
	time.AfterFunc(wait, func() { m.events <- crashRestartEvent{} })
}

// onCrashRestart starts a child in place of a crashed one.
func (m *master) onCrashRestart() {
	m.crashed = false
	if m.stopping || m.active != nil || m.pending != nil {
		return
	}
	c, err := m.startChild()
	if err != nil {
		m.log.Error("cannot start a child after a crash; stopping", "err", err)
		m.stop("cannot start a child")
		return
	}
	m.active = c
	c.log.Info("child started after a crash", "failed_starts", m.failed)
	time.AfterFunc(m.cfg.ReadyTimeout, func() { m.events <- readyTimeoutEvent{child: c} })
}

// jitter spreads d by ±20%.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + time.Duration(rand.Int64N(int64(d)*2/5+1))
}

// short abbreviates a binary ID for logs.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
