//go:build unix

package overseer

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// The restart sequence.
//
// One goroutine, the event loop in (*master).run, owns every piece of
// state below; everything else (signals, child exits, control messages,
// timers, the fetcher) reaches it as a message on its inbox. A restart:
//
//  1. starts a new child on the same sockets (pending);
//  2. waits for it to report ready, at most ReadyTimeout;
//  3. makes it the active child and only then tells the old one to drain,
//     killing the old one if it has not exited after TerminateTimeout.
//
// A pending child that exits or is not ready in time is killed; the active
// child keeps serving, and an upgrade it came from is rolled back. A child
// the loop has killed never becomes active, even if its ready message was
// already on its way. Restart requests that arrive during a restart are
// folded into one more restart after it. The loop reaches processes only
// through a launcher and timers only through a timers, so its tests drive
// it without forking or waiting (master_test.go).

// loopMsg is something the event loop reacts to.
type loopMsg interface{}

type (
	signalMsg  struct{ sig os.Signal }
	restartMsg struct{ reason string }
	readyMsg   struct{ child *childProcess }
	exitMsg    struct {
		child  *childProcess
		code   int
		status string // how it ended, for logs
	}
	readyTimeoutMsg struct{ child *childProcess }
	killTimeoutMsg  struct {
		child *childProcess
		why   string
	}
	upgradeMsg      struct{ staged *stagedBinary }
	probationEndMsg struct{ inst *installed }
	watchdogMsg     struct{}
	crashRestartMsg struct{}
)

// timers schedules a message to the event loop after a delay; cancel
// stops it if it has not been sent.
type timers interface {
	after(d time.Duration, msg loopMsg) (cancel func())
}

// realTimers sends to the loop's inbox from time.AfterFunc.
type realTimers struct{ inbox chan<- loopMsg }

func (t realTimers) after(d time.Duration, msg loopMsg) func() {
	timer := time.AfterFunc(d, func() { t.inbox <- msg })
	return func() { timer.Stop() }
}

// master is the long-lived first process.
type master struct {
	cfg          *Config
	log          *slog.Logger
	bin          *binary // the binary on disk
	launcher     launcher
	timers       timers
	closeSockets func()
	fetch        *fetchPipeline // nil without a Fetcher
	notify       *notifier      // systemd's NOTIFY_SOCKET; nil when not under systemd
	sink         *eventSink     // Config.OnEvent; nil when unset
	trimmer      *memoryTrimmer
	health       func(inst *installed) (stop func()) // starts Config.HealthCheck; nil without one
	reexec       reexecer                            // re-executes the master; nil where it cannot
	imageID      string                              // the binary this master image runs

	// Owned by the event loop.
	nextID      int
	active      *childProcess
	pending     *restart
	again       bool                   // another restart was asked for during this one
	queued      *stagedBinary          // an upgrade waiting for the current restart
	unproven    *installed             // installed release not yet proven (see probation_unix.go)
	probation   *probation             // the unproven release's probation, once its child is ready
	draining    map[*childProcess]bool // old children finishing their work
	stopping    bool                   // the service is shutting down
	exitCode    int                    // what the master exits with once stopping
	failed      int                    // failed starts in a row, under a CrashPolicy
	cancelCrash func()                 // cancels a scheduled crash restart; nil if none

	reexecWanted   string // why a re-exec was asked for; "" if none (see reexec_unix.go)
	reexecChecking bool   // its dry run is under way
	reexecRefused  string // a binary whose dry run failed: not re-executed into after a proof
}

// restart is a restart under way.
type restart struct {
	child       *childProcess
	reason      string
	begun       time.Time
	cancelTimer func()
	timedOut    bool       // the child missed ReadyTimeout and was killed
	upgrade     *installed // the upgrade this restart runs, if any
}

// newMaster returns a master whose loop is ready to start; runMaster and
// the loop's tests fill in the launcher, timers and sockets.
func newMaster(c *Config, log *slog.Logger, bin *binary) *master {
	return &master{
		cfg:          c,
		log:          log,
		bin:          bin,
		closeSockets: func() {},
		imageID:      bin.currentID(),
		trimmer:      newMemoryTrimmer(),
		draining:     make(map[*childProcess]bool),
	}
}

// start starts the first child. resumed is a release whose probation a
// clean stop suspended (see recoverReleases), or nil.
func (m *master) start(resumed *installed) error {
	m.unproven = resumed
	first, err := m.launchChild()
	if err != nil {
		return err
	}
	m.active = first
	m.log.Info("started", "binary", m.bin.path, "id", short(m.bin.currentID()), "child", first.id, "child_pid", first.pid, "addresses", m.cfg.Addresses)
	return nil
}

// run is the event loop. It returns the exit code once the service has
// stopped and every child is gone.
func (m *master) run(inbox <-chan loopMsg) int {
	for msg := range inbox {
		if m.handle(msg) {
			return m.exitCode
		}
	}
	return 1
}

// handle acts on one message and reports whether the service has stopped
// and every child is gone.
func (m *master) handle(msg loopMsg) (done bool) {
	switch e := msg.(type) {
	case signalMsg:
		m.onSignal(e.sig)
	case restartMsg:
		m.onRestart(e.reason)
	case readyMsg:
		m.onReady(e.child)
	case readyTimeoutMsg:
		m.onReadyTimeout(e.child)
	case killTimeoutMsg:
		if !e.child.exited {
			e.child.kill(e.why)
		}
	case exitMsg:
		m.onExit(e)
	case upgradeMsg:
		m.onUpgrade(e.staged)
	case watchdogMsg:
		if m.active != nil && !m.active.readyAt.IsZero() && !m.stopping {
			m.notify.send("WATCHDOG=1")
		}
	case crashRestartMsg:
		m.onCrashRestart()
	case probationEndMsg:
		m.onProbationEnd(e.inst)
	case healthMsg:
		m.onHealth(e.inst, e.err)
	case reexecMsg:
		m.askReexec(e.reason)
	case reexecCheckedMsg:
		m.onReexecChecked(e)
	}
	m.maybeReexec()
	return m.stopping && m.active == nil && m.pending == nil && len(m.draining) == 0
}

// onSignal handles a signal to the master.
func (m *master) onSignal(s os.Signal) {
	if s == m.cfg.RestartSignal {
		m.onRestart("signal " + s.String())
		return
	}
	if m.cfg.ReexecSignal != nil && s == m.cfg.ReexecSignal {
		m.askReexec("signal " + s.String())
		return
	}
	if m.active == nil {
		m.log.Debug("no child to forward the signal to", "signal", s)
	} else {
		m.log.Debug("forwarding signal", "signal", s, "child", m.active.id)
		m.active.signal(s)
	}
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
		m.closeSockets()
		if m.fetch != nil {
			m.fetch.stop()
		}
		if m.queued != nil {
			m.queued.discard()
			m.queued = nil
		}
		if m.cancelCrash != nil {
			m.cancelCrash()
			m.cancelCrash = nil
		}
		m.suspendProbation()
	}
	m.stopping = true
	if m.pending != nil && !m.pending.child.killed {
		m.pending.child.kill("the service is stopping")
	}
	if m.active != nil {
		m.killAfter(m.active, "did not stop within TerminateTimeout")
	}
}

// onRestart begins a restart, or folds the request into one under way.
func (m *master) onRestart(reason string) {
	switch {
	case m.stopping:
		m.log.Debug("restart ignored: stopping", "reason", reason)
	case m.cfg.NoRestart:
		m.log.Info("restarts are disabled (NoRestart): draining and exiting instead", "reason", reason)
		if m.active != nil {
			m.active.signal(SIGTERM) // a final drain: queued connections are answered too
		}
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
	c, err := m.launchChild()
	if err != nil {
		m.log.Error("restart failed: cannot start a new child; the current child keeps serving", "reason", reason, "err", err)
		m.rollback(up, "the new binary could not be started")
		m.afterRestart()
		return
	}
	r := &restart{child: c, reason: reason, begun: time.Now(), upgrade: up}
	r.cancelTimer = m.timers.after(m.cfg.ReadyTimeout, readyTimeoutMsg{child: c})
	m.pending = r
	c.log.Info("restart begun", "reason", reason, "id", short(c.binID))
	m.notify.reloading("restarting (" + reason + ")")
	e := childEvent(EventRestartBegun, c)
	e.Reason = reason
	m.sink.emit(e)
}

// onReady handles a child's report that it can serve: a pending child
// completes its restart (it becomes active and the old one drains).
func (m *master) onReady(c *childProcess) {
	if c.killed || c.exited || !c.readyAt.IsZero() {
		c.log.Debug("ready ignored: the child was killed, has exited or was ready already")
		return
	}
	r := m.pending
	if c != m.active && (r == nil || r.child != c) {
		return // an old child: it has been replaced already
	}
	c.readyAt = time.Now()
	ready := childEvent(EventChildReady, c)
	ready.Duration = c.readyAt.Sub(c.started)
	m.sink.emit(ready)
	if c == m.active {
		c.log.Info("child ready", "after", c.readyAt.Sub(c.started).Round(time.Microsecond))
		if !m.stopping {
			m.startProbation(c)
			m.notify.send("READY=1", "STATUS="+m.status())
		}
		return
	}
	r.cancelTimer()
	m.pending = nil
	old := m.active
	m.active = c
	m.startProbation(c)
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
func (m *master) drain(c *childProcess) {
	c.drainAt = time.Now()
	m.draining[c] = true
	m.sink.emit(childEvent(EventChildDraining, c))
	c.signal(m.cfg.RestartSignal)
	m.killAfter(c, "did not finish draining within TerminateTimeout")
}

// killAfter kills c if it is still running after TerminateTimeout.
func (m *master) killAfter(c *childProcess, why string) {
	if c.cancelKill == nil {
		c.cancelKill = m.timers.after(m.cfg.TerminateTimeout, killTimeoutMsg{child: c, why: why})
	}
}

// onReadyTimeout kills a new child that did not become ready in time: a
// pending one, or one started after a crash.
func (m *master) onReadyTimeout(c *childProcess) {
	if !c.readyAt.IsZero() || c.killed || c.exited {
		return
	}
	switch {
	case m.pending != nil && m.pending.child == c:
		m.pending.timedOut = true
		c.log.Error("new child not ready in time; killing it", "timeout", m.cfg.ReadyTimeout)
	case c == m.active:
		c.log.Error("child started after a crash is not ready in time; killing it", "timeout", m.cfg.ReadyTimeout)
	default:
		return // it has exited
	}
	c.kill("not ready within ReadyTimeout")
}

// onExit handles a child's exit.
func (m *master) onExit(e exitMsg) {
	c := e.child
	c.exited = true
	if c.cancelKill != nil {
		c.cancelKill()
	}
	exited := childEvent(EventChildExited, c)
	exited.Code = e.code
	if !c.drainAt.IsZero() {
		exited.Duration = time.Since(c.drainAt)
	}
	m.sink.emit(exited)
	switch {
	case m.pending != nil && m.pending.child == c:
		m.onRestartFailed(m.pending, e)
	case m.draining[c]:
		delete(m.draining, c)
		c.log.Info("old child exited", "drain", time.Since(c.drainAt).Round(time.Microsecond), "code", e.code)
		if len(m.draining) == 0 && m.pending == nil {
			m.trimmer.maybeTrim()
		}
	case c == m.active:
		m.active = nil
		m.exitCode = e.code
		switch {
		case m.stopping:
			c.log.Info("child exited", "code", e.code, "status", e.status)
		case m.onProbation(c):
			m.failProbation(fmt.Sprintf("its child exited with code %d during probation", e.code))
		case m.cfg.CrashPolicy != nil:
			m.onCrash(c, e)
		default:
			c.log.Error("child exited unexpectedly; stopping with its exit code", "code", e.code, "status", e.status)
			m.stop("child exited")
		}
	}
}

// onRestartFailed ends restart r, whose child exited before it was
// ready: the active child (if any) keeps serving, and an upgrade is
// rolled back.
func (m *master) onRestartFailed(r *restart, e exitMsg) {
	m.pending = nil
	r.cancelTimer()
	if m.stopping {
		if r.upgrade != nil {
			// Stopped before the new binary proved itself: the next start
			// runs the previous one; the fetcher offers the new one again.
			if m.restore(r.upgrade, "the service stopped before the new binary was ready") {
				m.log.Info("upgrade undone: the service stopped before the new binary was ready; the next start runs the previous one", "restored", short(r.upgrade.prevID), "undone", short(r.upgrade.id))
			}
		}
		return
	}
	why := fmt.Sprintf("it exited with code %d before it was ready", e.code)
	if r.timedOut {
		why = fmt.Sprintf("it was not ready within %s", m.cfg.ReadyTimeout)
	}
	failed := childEvent(EventRestartFailed, r.child)
	failed.Reason, failed.Err, failed.Code = r.reason, errors.New(why), e.code
	m.sink.emit(failed)
	m.rollback(r.upgrade, why)
	if m.active == nil {
		// The active child crashed during this restart (under a
		// CrashPolicy): the failed start counts, and the policy decides.
		r.child.log.Error("restart failed and no child is running", "reason", r.reason, "why", why, "status", e.status)
		m.exitCode = e.code
		m.onCrash(r.child, e)
		return
	}
	r.child.log.Error("restart failed: the current child keeps serving", "reason", r.reason, "why", why, "status", e.status)
	m.notify.send("READY=1", "STATUS=restart failed ("+why+"); "+m.status())
	m.afterRestart()
}

// afterRestart starts what waited for the restart that just ended: a
// queued upgrade, or one more restart.
func (m *master) afterRestart() {
	if m.stopping || m.pending != nil {
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
	inst, err := m.bin.install(s, m.unproven)
	if err != nil {
		m.log.Error("upgrade failed: cannot install the new binary; the binary on disk is unchanged", "id", short(s.id), "err", err)
		return
	}
	if m.unproven != nil {
		m.log.Info("a newer release replaces the one not yet proven; a rollback returns to the last proven binary", "replaced", short(m.unproven.id), "proven", short(inst.prevID))
		m.endProbation()
	}
	m.unproven = inst
	m.bin.saveState(m.bin.releases.beginProbation(inst.id, inst.prevID))
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
func (m *master) rollback(inst *installed, why string) bool {
	if inst == nil || inst.rolledBack {
		return inst != nil
	}
	inst.rolledBack = true
	if err := m.bin.releases.quarantine(inst.id, why); err != nil {
		m.log.Warn("quarantine not saved; it holds until the master restarts", "id", short(inst.id), "err", err)
	}
	if !m.restore(inst, why) {
		return false
	}
	m.log.Error("upgrade rolled back: the previous binary is restored and the new one quarantined", "rejected", short(inst.id), "restored", short(inst.prevID), "why", why)
	m.sink.emit(Event{Kind: EventUpgradeRolledBack, BinaryID: inst.id, Err: errors.New(why)})
	return true
}

// restore puts back the binary inst replaced and reports whether it could.
func (m *master) restore(inst *installed, why string) bool {
	if m.unproven == inst {
		m.unproven = nil
		m.endProbation()
		m.bin.saveState(m.bin.releases.endProbation())
	}
	if err := m.bin.restore(inst); err != nil {
		m.log.Error("cannot restore the previous binary: the binary on disk is the new one; restore it by hand", "path", m.bin.path, "backup", inst.backup, "why", why, "err", err)
		return false
	}
	return true
}

// launchChild starts the next child from the binary on disk.
func (m *master) launchChild() (*childProcess, error) {
	m.nextID++
	c := &childProcess{
		id:      m.nextID,
		binID:   m.bin.currentID(),
		started: time.Now(),
		log:     m.log.With("child", m.nextID),
	}
	if err := m.launcher.launch(c); err != nil {
		return nil, err
	}
	m.sink.emit(childEvent(EventChildStarted, c))
	return c, nil
}

// status is the one-line state systemd shows (STATUS=).
func (m *master) status() string {
	if m.active == nil {
		return "no child running"
	}
	return fmt.Sprintf("serving binary %s (child %d, pid %d)", short(m.active.binID), m.active.id, m.active.pid)
}

// onCrash applies the CrashPolicy to a child that exited on its own while
// it was the only one serving (or was to become so): schedule a new start
// with backoff, or give up after too many failed starts. The sockets stay
// open meanwhile.
func (m *master) onCrash(c *childProcess, e exitMsg) {
	p := m.cfg.CrashPolicy
	if p == nil {
		c.log.Error("no child is running; stopping with the last child's exit code", "code", e.code)
		m.stop("no child running")
		return
	}
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
		// A restart is under way: its child takes over when ready, or
		// this policy runs again if it fails.
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
	m.cancelCrash = m.timers.after(wait, crashRestartMsg{})
}

// onCrashRestart starts a child in place of a crashed one.
func (m *master) onCrashRestart() {
	m.cancelCrash = nil
	if m.stopping || m.active != nil || m.pending != nil {
		return
	}
	if c := m.startActive("after a crash"); c != nil {
		c.log.Info("child started after a crash", "failed_starts", m.failed)
		m.afterRestart() // restarts and upgrades asked for during the backoff
	}
}

// startActive starts a child as the active one, when none serves (after a
// crash, or a rollback whose child had exited): no handover, and a child
// not ready within ReadyTimeout is killed. It returns nil, having begun to
// stop the service, if the child cannot be started.
func (m *master) startActive(why string) *childProcess {
	c, err := m.launchChild()
	if err != nil {
		m.log.Error("cannot start a child "+why+"; stopping", "err", err)
		m.stop("cannot start a child " + why)
		return nil
	}
	m.active = c
	m.timers.after(m.cfg.ReadyTimeout, readyTimeoutMsg{child: c})
	return c
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
