//go:build unix

package overseer

import (
	"os"
	"path/filepath"
)

// maxProbationAttempts is how many probations of one release may be cut
// short by the master dying before the release is quarantined: once may
// be a power cut or an unrelated kill; twice is more likely the release.
const maxProbationAttempts = 2

// recoverReleases puts the binary on disk in order when a master starts,
// from what the release state says happened before it:
//
//   - staging files left by a fetch that a crash cut short are removed;
//   - a release whose probation a clean stop suspended is on probation
//     again: it is returned, and its first ready child starts a new window;
//   - a release whose probation was cut short by the master dying (a
//     crash, SIGKILL, a power cut) is rolled back to the proven binary,
//     and quarantined if that happened maxProbationAttempts times;
//   - a probation record for a binary that is no longer on disk (replaced
//     by hand) is forgotten: the binary is the operator's choice.
func (b *binary) recoverReleases() (resumed *installed) {
	if stale, _ := filepath.Glob(filepath.Join(b.dir, b.pattern)); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
		b.log.Info("removed staging files left by an interrupted upgrade", "count", len(stale), "dir", b.dir)
	}
	p := b.releases.probation()
	if p == nil {
		return nil
	}
	inst := &installed{id: p.ID, prevID: p.PrevID, backup: b.backup}
	switch {
	case b.currentID() != p.ID:
		b.log.Info("the binary was replaced since its release was on probation; it is taken as it is", "on_probation", short(p.ID), "on_disk", short(b.currentID()))
		b.saveState(b.releases.endProbation())
		return nil
	case p.Suspended:
		b.log.Info("release on probation when the service stopped; its probation starts again", "id", short(p.ID))
		b.saveState(b.releases.suspendProbation(false))
		return inst
	}
	backupID, _, err := hashFile(b.backup)
	if err != nil || backupID != p.PrevID {
		b.log.Error("the master stopped during a release's probation, but the proven binary it replaced is not in the backup; keeping the release on probation", "id", short(p.ID), "backup", b.backup, "err", err)
		return inst
	}
	if err := b.restore(inst); err != nil {
		b.log.Error("the master stopped during a release's probation and the proven binary cannot be restored; keeping the release on probation", "id", short(p.ID), "err", err)
		return inst
	}
	if p.Attempts >= maxProbationAttempts {
		b.saveState(b.releases.quarantine(p.ID, "its probation was cut short by the master dying, twice"))
		b.log.Error("release rolled back and quarantined: the master died during its probation twice", "rejected", short(p.ID), "restored", short(p.PrevID))
	} else {
		b.log.Warn("release rolled back: the master died during its probation; it will be fetched and tried again", "id", short(p.ID), "restored", short(p.PrevID), "attempt", p.Attempts)
	}
	b.saveState(b.releases.endProbation())
	return nil
}

// saveState logs a failure to write the release state: the decision
// holds while this master runs.
func (b *binary) saveState(err error) {
	if err != nil {
		b.log.Warn("release state not saved; it holds until the master restarts", "err", err)
	}
}
