//go:build unix

package overseer

import (
	"fmt"
	"time"
)

// Probation: the part of the restart sequence that follows an upgrade's
// handover. The event loop owns all of it (see master_unix.go).
//
// An installed release is unproven (master.unproven) until a child of it
// has been ready for ProbationPeriod (master.probation runs that window,
// and the health checks). If a child of the unproven release exits, or
// its health check fails Failures times in a row, the release is rolled
// back: the proven binary goes back on disk, the release is quarantined,
// and a child of the proven binary is started on the sockets the master
// holds, replacing the failing one. The durable release state records
// the probation from install to proof, so a master that dies meanwhile
// rolls the release back when it starts again (recoverReleases).

// probation is the window of the unproven release whose child is ready.
type probation struct {
	inst       *installed
	began      time.Time
	failures   int    // failed health checks in a row
	cancelEnd  func() // cancels the end of the window
	stopHealth func() // stops the health checks; nil without HealthCheck
}

// startProbation begins the probation of the unproven release when child
// c, one of its children, is ready; a child of a release already on
// probation (a restart during probation) keeps the window running.
func (m *master) startProbation(c *childProcess) {
	inst := m.unproven
	if inst == nil || c.binID != inst.id || (m.probation != nil && m.probation.inst == inst) {
		return
	}
	if m.cfg.ProbationPeriod < 0 {
		m.proven(inst)
		return
	}
	p := &probation{inst: inst, began: time.Now()}
	p.cancelEnd = m.timers.after(m.cfg.ProbationPeriod, probationEndMsg{inst: inst})
	if m.health != nil {
		p.stopHealth = m.health(inst)
	}
	m.probation = p
	c.log.Info("release on probation", "id", short(inst.id), "for", m.cfg.ProbationPeriod, "rollback_to", short(inst.prevID))
}

// onProbation reports whether child c runs the unproven release, so that
// its exit fails the release instead of the service.
func (m *master) onProbation(c *childProcess) bool {
	return m.unproven != nil && c.binID == m.unproven.id && m.cfg.ProbationPeriod >= 0
}

// onProbationEnd proves the release whose window ended.
func (m *master) onProbationEnd(inst *installed) {
	if m.probation == nil || m.probation.inst != inst {
		return // rolled back, or replaced by a newer release
	}
	m.proven(inst)
}

// proven makes inst the proven release: a later rollback returns to it.
func (m *master) proven(inst *installed) {
	m.endProbation()
	m.unproven = nil
	m.bin.saveState(m.bin.releases.endProbation())
	m.log.Info("release proven", "id", short(inst.id), "after", m.cfg.ProbationPeriod)
	m.sink.emit(Event{Kind: EventUpgradeProven, BinaryID: inst.id})
	m.notify.send("STATUS=" + m.status())
	m.afterRestart()
	m.reexecAfterProof(inst)
}

// onHealth counts a health check's result for the release on probation.
func (m *master) onHealth(inst *installed, err error) {
	p := m.probation
	if p == nil || p.inst != inst || m.stopping {
		return
	}
	if err == nil {
		p.failures = 0
		return
	}
	p.failures++
	m.log.Warn("health check failed", "id", short(inst.id), "failures_in_a_row", p.failures, "of", m.cfg.HealthCheck.Failures, "err", err)
	m.sink.emit(Event{Kind: EventHealthCheckFailed, BinaryID: inst.id, Err: err})
	if p.failures >= m.cfg.HealthCheck.Failures {
		m.failProbation(fmt.Sprintf("its health check failed %d times in a row: %v", p.failures, err))
	}
}

// failProbation rolls the unproven release back and puts a child of the
// proven binary in place of its child.
func (m *master) failProbation(why string) {
	inst := m.unproven
	if !m.rollback(inst, why) {
		// The binary on disk is still the failing release: starting it
		// again would fail again.
		if m.active == nil {
			m.stop("the failed release cannot be rolled back")
		}
		return
	}
	m.notify.send("STATUS=rolled back release " + short(inst.id) + " (" + why + "); starting " + short(inst.prevID))
	if m.pending != nil && !m.pending.child.killed {
		// A restart into the failing release is under way: it must not
		// take over. One more restart follows it, from the proven binary.
		m.pending.child.kill("its release was rolled back")
		m.again = true
		return
	}
	if m.active != nil {
		m.beginRestart("rollback of " + short(inst.id))
		return
	}
	if c := m.startActive("after a rollback"); c != nil {
		c.log.Info("child of the previous release started after a rollback", "id", short(c.binID))
	}
}

// endProbation stops the window and the health checks, if running.
func (m *master) endProbation() {
	if p := m.probation; p != nil {
		p.cancelEnd()
		if p.stopHealth != nil {
			p.stopHealth()
		}
		m.probation = nil
	}
}

// suspendProbation records, as the service stops, that the unproven
// release's probation was cut short by a clean stop: the next start runs
// it again and starts a new window, rather than rolling it back.
func (m *master) suspendProbation() {
	if m.unproven == nil {
		return
	}
	m.endProbation()
	m.bin.saveState(m.bin.releases.suspendProbation(true))
}
