//go:build unix

package overseer

import (
	"errors"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
)

// The master's re-exec, as the event loop decides it.
//
// Once an upgraded release is proven (probation_unix.go), or when asked
// (ReexecMaster, Config.ReexecSignal, a child's "reexec"), the master
// re-executes itself in place on the binary on disk: execve keeps its PID,
// the listening sockets and the active child's control channel cross it
// as inherited descriptors, and the new image adopts the active child
// (masteradopt_unix.go) instead of starting another, so no request is
// touched. The loop waits for a quiet moment: no restart under way, no
// old child draining, no release on probation (the next image would take
// its unsettled probation record for a master that died) and a ready
// active child. It then has the binary's master start-up dry-run off the
// loop; only if that answers does it exec. A failed dry run or execve
// leaves the master running as it was, the child untouched.

type (
	reexecMsg        struct{ reason string }
	reexecCheckedMsg struct {
		id  string // the binary the dry run ran
		err error
	}
)

// reexecer replaces the master's process image. The loop's tests record
// what it is asked instead.
type reexecer interface {
	// startCheck dry-runs the master start-up of the binary on disk,
	// whose ID is id, with h, and then sends a reexecCheckedMsg to the
	// loop. It must not block.
	startCheck(h *handover, id string)
	// exec replaces the process image with the binary on disk, handing it
	// the sockets and child c as h describes. It returns only if it
	// failed, having put everything back.
	exec(h *handover, c *childProcess) error
}

// askReexec records a request to re-execute the master and acts on it
// when the loop is quiet.
func (m *master) askReexec(reason string) {
	if m.reexec == nil {
		m.log.Info("master re-exec not available here; ignored", "reason", reason)
		return
	}
	if m.reexecWanted == "" {
		m.reexecWanted = reason
		m.log.Info("master re-exec requested", "reason", reason)
	}
	m.maybeReexec()
}

// reexecAfterProof asks for a re-exec once the release on disk is proven,
// unless the master already runs it or its dry run failed before.
func (m *master) reexecAfterProof(inst *installed) {
	id := m.bin.currentID()
	if m.cfg.NoMasterReexec || m.reexec == nil || id != inst.id || id == m.imageID || id == m.reexecRefused {
		return
	}
	m.askReexec("release " + short(id) + " proven")
}

// reexecBlocker says what a re-exec waits for, or "" if nothing.
func (m *master) reexecBlocker() string {
	switch {
	case m.stopping:
		return "the service is stopping"
	case m.reexecChecking:
		return "its dry run is under way"
	case m.pending != nil:
		return "a restart is under way"
	case len(m.draining) > 0:
		return "an old child is draining"
	case m.unproven != nil:
		return "a release is on probation"
	case m.active == nil || m.active.readyAt.IsZero():
		return "no ready child"
	}
	return ""
}

// maybeReexec starts the dry run of a requested re-exec if nothing
// blocks it.
func (m *master) maybeReexec() {
	if m.reexecWanted == "" || m.reexecBlocker() != "" {
		return
	}
	m.reexecChecking = true
	m.reexec.startCheck(m.handover(), m.bin.currentID())
}

// onReexecChecked execs once the dry run answered, if the loop is still
// quiet and the binary on disk is still the one checked.
func (m *master) onReexecChecked(e reexecCheckedMsg) {
	m.reexecChecking = false
	reason := m.reexecWanted
	if reason == "" || m.stopping {
		return
	}
	if e.err != nil {
		m.reexecWanted, m.reexecRefused = "", e.id
		m.log.Error("master not re-executed: the new binary failed its master dry run; the master keeps running and the child is untouched", "id", short(e.id), "reason", reason, "err", e.err)
		m.sink.emit(Event{Kind: EventMasterReexecFailed, BinaryID: e.id, Reason: reason, Err: e.err})
		return
	}
	if m.reexecBlocker() != "" || m.bin.currentID() != e.id {
		return // maybeReexec checks again once the loop is quiet
	}
	h := m.handover()
	h.Reason, h.Began = reason, time.Now().UnixMicro()
	m.log.Info("re-executing the master", "binary", m.bin.path, "id", short(e.id), "reason", reason, "child", m.active.id)
	m.notify.send("STATUS=re-executing the master (" + reason + ")")
	err := m.reexec.exec(h, m.active)
	// Only a failed exec returns.
	m.reexecWanted = ""
	if err == nil {
		err = errors.New("exec returned")
	}
	m.log.Error("master not re-executed: execve failed; the master keeps running and the child is untouched", "id", short(e.id), "reason", reason, "err", err)
	m.sink.emit(Event{Kind: EventMasterReexecFailed, BinaryID: e.id, Reason: reason, Err: err})
	m.notify.send("STATUS=" + m.status())
}

// handover describes the loop's part of what the next image adopts; the
// reexecer adds the descriptors.
func (m *master) handover() *handover {
	h := &handover{Version: handoverVersion, Addresses: m.cfg.Addresses, NextID: m.nextID}
	if r, ok := m.cfg.Fetcher.(fetcher.Resumable); ok && m.fetch != nil {
		// What the fetcher has seen, so that a release published while the
		// master re-executes is offered to the new image, not taken for its
		// baseline.
		h.Fetcher = r.Checkpoint()
	}
	if c := m.active; c != nil {
		h.Child = &handedChild{ID: c.id, PID: c.pid, BinID: c.binID, Ready: !c.readyAt.IsZero(), Started: c.started.UnixMicro()}
	}
	return h
}
