//go:build unix

package overseer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/internal/atomicfile"
)

// The binary on disk. A fetched binary that passed every check (see
// fetchpipeline.go) is swapped in with a rename; the binary it replaces is
// kept beside it as a hard link (or copy) for rollback. Only the master's
// event loop installs and restores.
//
// Symlinks: overseer resolves the running binary's path and replaces the
// file a symlink points to, never the link itself, so links keep working
// and keep pointing at the current version.

// binary is the executable overseer runs and upgrades. Its path never
// changes; its ID (SHA-256, hex) changes when an upgrade is installed or
// rolled back.
type binary struct {
	path    string
	dir     string
	mode    os.FileMode
	backup  string // the previous binary, kept for rollback
	pattern string // staging file names: hidden, next to the binary
	log     *slog.Logger

	// releases is the durable release state: quarantine, probation,
	// newest signed time.
	releases *releaseStore

	mu sync.Mutex
	id string
}

// currentBinary finds, resolves and hashes the running executable.
func currentBinary(log *slog.Logger) (*binary, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("overseer: find the running binary: %w", err)
	}
	path, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return nil, fmt.Errorf("overseer: resolve %s: %w", exe, err)
	}
	return openBinary(path, log)
}

// openBinary hashes the executable at path, a resolved path.
func openBinary(path string, log *slog.Logger) (*binary, error) {
	id, info, err := hashFile(path)
	if err != nil {
		return nil, fmt.Errorf("overseer: the running binary: %w", err)
	}
	dir, base := filepath.Split(path)
	releases, err := openReleaseStore(filepath.Join(dir, "."+base+".overseer-state"))
	var setAside *stateSetAsideError
	switch {
	case errors.As(err, &setAside):
		log.Error("release state unreadable; starting with an empty one", "err", err)
	case err != nil:
		return nil, fmt.Errorf("overseer: %w", err)
	}
	return &binary{
		releases: releases,
		path:     path,
		dir:      filepath.Clean(dir),
		mode:     info.Mode().Perm(),
		backup:   filepath.Join(dir, "."+base+".overseer-prev"),
		pattern:  "." + base + ".overseer-new-*",
		log:      log,
		id:       id,
	}, nil
}

// hashFile returns the SHA-256 (hex) of the file at path, and its
// details.
func hashFile(path string) (string, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", nil, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), info, nil
}

// currentID returns the ID of the binary now on disk.
func (b *binary) currentID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.id
}

// setID records the ID of the binary now on disk.
func (b *binary) setID(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.id = id
}

// stagedBinary is a fetched binary that passed every check and waits to
// be installed.
type stagedBinary struct {
	path string
	id   string
	// signedAt is the authenticated signing time of the release, zero
	// without Config.PublicKey; installing it makes it the newest.
	signedAt time.Time
}

// discard removes a staged binary that will not be installed.
func (s *stagedBinary) discard() { os.Remove(s.path) }

// installed records an installed upgrade, for rollback.
type installed struct {
	id         string
	prevID     string
	backup     string
	rolledBack bool // owned by the event loop
}

// install swaps s in for the binary on disk, with the owner and mode of
// the binary it replaces. That binary is kept as the backup
// (.overseer-prev), unless it is itself an unproven release (unproven
// non-nil: a release on probation, or one installed with
// NoRestartAfterFetch that no child has run yet): the backup is always the
// last proven binary, the one a rollback returns to.
func (b *binary) install(s *stagedBinary, unproven *installed) (*installed, error) {
	prev := b.currentID()
	if unproven != nil {
		prev = unproven.prevID
		b.log.Info("keeping the backup: the binary being replaced was installed and never proven", "replaced", short(unproven.id), "backup", short(prev))
	} else if err := b.replace(b.backup, b.path); err != nil {
		s.discard()
		return nil, fmt.Errorf("keep the previous binary as %s: %w", b.backup, err)
	}
	b.matchOwnerAndMode(s.path)
	if err := os.Rename(s.path, b.path); err != nil {
		s.discard()
		return nil, fmt.Errorf("rename into place: %w", err)
	}
	if err := atomicfile.SyncDir(b.dir); err != nil {
		b.log.Warn("upgrade installed but not yet durable", "err", err)
	}
	b.setID(s.id)
	if !s.signedAt.IsZero() {
		if err := b.releases.acceptSigned(s.signedAt, s.id); err != nil {
			b.log.Warn("the release's signed time is not saved; downgrades are refused against it until the master restarts", "err", err)
		}
	}
	return &installed{id: s.id, prevID: prev, backup: b.backup}, nil
}

// restore puts the backup inst made back in place.
func (b *binary) restore(inst *installed) error {
	tmp, err := os.CreateTemp(b.dir, b.pattern)
	if err != nil {
		return err
	}
	tmp.Close()
	if err := b.replace(tmp.Name(), inst.backup); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), b.path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := atomicfile.SyncDir(b.dir); err != nil {
		b.log.Warn("restore not yet durable", "err", err)
	}
	b.setID(inst.prevID)
	return nil
}

// replace makes dst a hard link to src, or a copy of it where hard links
// are not possible, replacing whatever dst was.
func (b *binary) replace(dst, src string) error {
	os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, b.mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
