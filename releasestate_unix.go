//go:build unix

package overseer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/internal/atomicfile"
)

// releaseStateVersion is the format of the state file; a master refuses
// to overwrite a file of a newer format.
const releaseStateVersion = 1

// releaseState is what the master knows about releases, kept beside the
// binary in .<name>.overseer-state so that it survives a master crash, a
// SIGKILL or a power cut. It is small JSON, replaced atomically (written
// to a temporary file, fsynced, renamed, directory fsynced).
type releaseState struct {
	// Version is releaseStateVersion.
	Version int `json:"version"`
	// Quarantined maps a release ID to why it was refused. A release ID is
	// the binary's SHA-256 in hex, or, for a release refused for its
	// signature, the binary's SHA-256 and the signature's joined by "+":
	// the same binary with a corrected signature is a new release.
	Quarantined map[string]quarantineEntry `json:"quarantined,omitempty"`
	// Probation is the release installed and not yet proven, if any.
	Probation *probationRecord `json:"probation,omitempty"`
	// NewestSigned is the signed time of the newest release accepted with
	// a signature; an older or equal one is a downgrade.
	NewestSigned time.Time `json:"newest_signed,omitzero"`
	// NewestSignedID is the binary of that release: offered again (after
	// a rollback that did not quarantine it), it is no downgrade.
	NewestSignedID string `json:"newest_signed_id,omitempty"`
}

// quarantineEntry says why and when a release was refused.
type quarantineEntry struct {
	Why  string    `json:"why"`
	Time time.Time `json:"time"`
}

// probationRecord is a release on probation.
type probationRecord struct {
	ID       string    `json:"id"`       // the installed release's binary SHA-256
	PrevID   string    `json:"prev_id"`  // the proven binary it replaced, kept as the backup
	Since    time.Time `json:"since"`    // when it was installed
	Attempts int       `json:"attempts"` // probations begun for it, including interrupted ones
	// Suspended is set when the service stopped cleanly during probation:
	// the next start resumes the probation instead of rolling back.
	Suspended bool `json:"suspended,omitempty"`
}

// releaseStore guards the release state and writes every change through
// to the state file. It is safe for concurrent use: the fetch pipeline
// reads the quarantine while the event loop changes it.
type releaseStore struct {
	path string

	mu    sync.Mutex
	state releaseState
}

// maxQuarantined bounds the quarantine; the oldest entries go first.
const maxQuarantined = 256

// openReleaseStore reads the state file at path; a missing file is an
// empty state. A file that cannot be parsed is set aside as path+".bad"
// and reported, so the service still starts (with no quarantine), and a
// file of a newer format is an error.
func openReleaseStore(path string) (*releaseStore, error) {
	s := &releaseStore{path: path, state: releaseState{Version: releaseStateVersion}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read release state %s: %w", path, err)
	}
	var st releaseState
	if err := json.Unmarshal(b, &st); err != nil {
		bad := path + ".bad"
		_ = os.Rename(path, bad)
		return s, &stateSetAsideError{path: path, bad: bad, err: err}
	}
	if st.Version > releaseStateVersion {
		return nil, fmt.Errorf("release state %s has format %d; this binary reads up to %d: run a newer release, or move the file away to start afresh", path, st.Version, releaseStateVersion)
	}
	st.Version = releaseStateVersion
	s.state = st
	return s, nil
}

// stateSetAsideError reports a state file that could not be read and was
// set aside.
type stateSetAsideError struct {
	path, bad string
	err       error
}

func (e *stateSetAsideError) Error() string {
	return fmt.Sprintf("release state %s is unreadable (%v); set aside as %s, starting with no quarantine", e.path, e.err, e.bad)
}

func (e *stateSetAsideError) Unwrap() error { return e.err }

// quarantined reports whether release id was refused, and why.
func (s *releaseStore) quarantined(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.state.Quarantined[id]
	return e.Why, ok
}

// quarantine records that release id was refused.
func (s *releaseStore) quarantine(id, why string) error {
	return s.update(func(st *releaseState) {
		if st.Quarantined == nil {
			st.Quarantined = make(map[string]quarantineEntry)
		}
		st.Quarantined[id] = quarantineEntry{Why: why, Time: time.Now().UTC()}
		for len(st.Quarantined) > maxQuarantined {
			oldest := ""
			for k, e := range st.Quarantined {
				if oldest == "" || e.Time.Before(st.Quarantined[oldest].Time) {
					oldest = k
				}
			}
			delete(st.Quarantined, oldest)
		}
	})
}

// probation returns the release on probation, or nil.
func (s *releaseStore) probation() *probationRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Probation == nil {
		return nil
	}
	p := *s.state.Probation
	return &p
}

// beginProbation records release id, which replaced prevID, as on
// probation, counting the attempt.
func (s *releaseStore) beginProbation(id, prevID string) error {
	return s.update(func(st *releaseState) {
		attempts := 1
		if p := st.Probation; p != nil && p.ID == id {
			attempts = p.Attempts + 1
		}
		st.Probation = &probationRecord{ID: id, PrevID: prevID, Since: time.Now().UTC(), Attempts: attempts}
	})
}

// suspendProbation marks the probation as interrupted by a clean stop,
// or (suspended false) as running again.
func (s *releaseStore) suspendProbation(suspended bool) error {
	return s.update(func(st *releaseState) {
		if st.Probation != nil {
			st.Probation.Suspended = suspended
		}
	})
}

// endProbation forgets the release on probation: it was proven, or rolled
// back.
func (s *releaseStore) endProbation() error {
	return s.update(func(st *releaseState) { st.Probation = nil })
}

// newestSigned returns the signed time of the newest release accepted
// with a signature, and its binary's ID; zero if none.
func (s *releaseStore) newestSigned() (time.Time, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.NewestSigned, s.state.NewestSignedID
}

// acceptSigned records t, the signed time of release id, as the newest, if
// it is newer.
func (s *releaseStore) acceptSigned(t time.Time, id string) error {
	return s.update(func(st *releaseState) {
		if t.After(st.NewestSigned) {
			st.NewestSigned, st.NewestSignedID = t.UTC(), id
		}
	})
}

// update applies change and writes the state through to disk. The state
// in memory changes even if the write fails (the service keeps its
// decisions for as long as it runs); the error says the file is stale.
func (s *releaseStore) update(change func(*releaseState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(&s.state)
	b, err := json.MarshalIndent(s.state, "", "  ")
	if err != nil {
		return fmt.Errorf("encode release state: %w", err)
	}
	return atomicfile.WriteFile(s.path, append(b, '\n'), 0o644)
}
