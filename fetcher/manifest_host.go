package fetcher

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/seed-710818af/overseer/manifest"
)

// locateSelf fills in Running and StateFile from the running executable,
// resolved through symlinks as the master resolves it.
func (m *Manifest) locateSelf() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the running binary: %w", err)
	}
	path, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", exe, err)
	}
	if m.StateFile == "" {
		dir, base := filepath.Split(path)
		m.StateFile = filepath.Join(dir, "."+base+".overseer-state")
	}
	if m.Running == "" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("hash the running binary: %w", err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Errorf("hash the running binary %s: %w", path, err)
		}
		m.Running = hex.EncodeToString(h.Sum(nil))
	}
	return nil
}

// releaseState is the part of the master's release state file that
// applies to manifests. The master writes the file atomically, so a read
// sees a whole version of it.
type releaseState struct {
	Quarantined  map[string]json.RawMessage `json:"quarantined"`
	NewestSigned time.Time                  `json:"newest_signed"`
}

// host describes this host for manifest.Decide, with the master's release
// state as it is on disk now.
func (m *Manifest) host() (manifest.Host, error) {
	var st releaseState
	b, err := os.ReadFile(m.StateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return manifest.Host{}, fmt.Errorf("fetcher.Manifest: read the release state: %w", err)
	case len(b) > 0:
		if err := json.Unmarshal(b, &st); err != nil {
			// The master sets an unreadable file aside and starts afresh;
			// do the same rather than stop upgrading.
			m.log.Warn("fetcher.Manifest: release state unreadable; deciding without it", "file", m.StateFile, "err", err)
			st = releaseState{}
		}
	}
	m.mu.Lock()
	newest := m.newest
	m.mu.Unlock()
	if st.NewestSigned.After(newest) {
		newest = st.NewestSigned
	}
	return manifest.Host{
		ID:           m.HostID,
		Name:         m.HostName,
		Platform:     m.Platform,
		Channel:      m.Channel,
		Running:      m.Running,
		NewestSigned: newest,
		Quarantined: func(sha string) bool {
			_, bad := st.Quarantined[sha]
			return bad
		},
	}, nil
}
