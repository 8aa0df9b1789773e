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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The upgrade path: a fetched binary is streamed into a file created
// exclusively next to the running binary, hashed while it streams, checked,
// and only then swapped in with a rename. The binary it replaces is kept as
// a hard link (or copy) for rollback.
//
// Symlinks: overseer resolves the running binary's path and replaces the
// file a symlink points to, never the link itself, so links keep working
// and keep pointing at the current version.

// binary is the executable overseer runs and upgrades. Its path never
// changes; its ID (SHA-256, hex) changes when an upgrade is installed or
// rolled back, which only the master's event loop does.
type binary struct {
	path string
	mode os.FileMode

	mu sync.Mutex
	id string
}

// currentBinary finds, resolves and hashes the running executable.
func currentBinary() (*binary, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("overseer: find the running binary: %w", err)
	}
	path, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return nil, fmt.Errorf("overseer: resolve %s: %w", exe, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("overseer: open the running binary: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("overseer: stat %s: %w", path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("overseer: hash %s: %w", path, err)
	}
	return &binary{path: path, mode: info.Mode().Perm(), id: hex.EncodeToString(h.Sum(nil))}, nil
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

// upgrader fetches, stages and checks new binaries on its own goroutine
// (fetchLoop), and installs or rolls them back when the event loop asks.
type upgrader struct {
	cfg        *Config
	log        *slog.Logger
	sink       *eventSink
	bin        *binary
	dir        string
	pattern    string // staging file names: hidden, next to the binary
	backup     string // the previous binary, kept for rollback
	verify     *verifier
	quarantine quarantine

	stopped atomic.Bool // the service is stopping: fetch nothing more

	mu       sync.Mutex
	stageNow string // the staging file being written, removed by abandon
}

// stagedBinary is a fetched binary that passed every check and waits to
// be installed.
type stagedBinary struct {
	path string
	id   string
}

// discard removes a staged binary that will not be installed.
func (s *stagedBinary) discard() { os.Remove(s.path) }

// installed records an installed upgrade, for rollback.
type installed struct {
	id     string
	prevID string
	backup string
}

// newUpgrader checks that new binaries can be staged next to the running
// one and initialises the fetcher.
func newUpgrader(c *Config, log *slog.Logger, sink *eventSink, bin *binary) (*upgrader, error) {
	dir, base := filepath.Split(bin.path)
	u := &upgrader{
		cfg:     c,
		log:     log,
		sink:    sink,
		bin:     bin,
		dir:     filepath.Clean(dir),
		pattern: "." + base + ".overseer-new-*",
		backup:  filepath.Join(dir, "."+base+".overseer-prev"),
	}
	v, err := newVerifier(c.PublicKey)
	if err != nil {
		return nil, err
	}
	u.verify = v
	probe, err := os.CreateTemp(u.dir, u.pattern)
	if err != nil {
		return nil, fmt.Errorf("cannot create files next to the binary (overseer stages upgrades in %s; make it writable): %w", u.dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if err := c.Fetcher.Init(); err != nil {
		return nil, fmt.Errorf("fetcher init: %w", err)
	}
	return u, nil
}

// fetchLoop polls the fetcher forever, at most once per MinFetchInterval,
// and sends each binary that passes the checks to events.
func (u *upgrader) fetchLoop(events chan<- event) {
	failures := 0
	for !u.stopped.Load() {
		begun := time.Now()
		s, failed := u.fetchOnce()
		if s != nil {
			events <- upgradeEvent{staged: s}
		}
		if failed {
			failures++
		} else {
			failures = 0
		}
		if wait := fetchPause(u.cfg.MinFetchInterval, failures) - time.Since(begun); wait > 0 {
			time.Sleep(wait)
		}
	}
}

// maxFetchBackoff caps the pause between fetches after repeated failures.
const maxFetchBackoff = time.Minute

// fetchPause is the least time between the starts of two fetches: the
// minimum interval, doubled for each consecutive failed attempt (a full
// disk, a broken download) up to maxFetchBackoff, so a failure that
// persists is retried and logged ever less often.
func fetchPause(interval time.Duration, failures int) time.Duration {
	pause := interval
	for i := 0; i < failures && pause < maxFetchBackoff; i++ {
		pause *= 2
	}
	return min(pause, max(interval, maxFetchBackoff))
}

// fetchOnce runs one fetch and returns a checked binary, or nil; failed
// reports an attempt that should be retried later rather than at once
// (the signature, the download or the staging failed).
func (u *upgrader) fetchOnce() (staged *stagedBinary, failed bool) {
	r, err := u.cfg.Fetcher.Fetch()
	if err != nil {
		// Not counted as a failure here: fetchers back off on their own
		// errors, and a second backoff on top would only delay recovery.
		u.log.Warn("fetch failed; will retry", "err", err)
		return nil, false
	}
	if r == nil {
		u.log.Debug("no new binary")
		return nil, false
	}
	if u.stopped.Load() {
		if c, ok := r.(io.Closer); ok {
			c.Close()
		}
		return nil, false
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	body, verify, err := u.verify.expect(r)
	if err != nil {
		if errors.Is(err, errRejected) {
			u.log.Error("upgrade rejected before download; the running binary is unchanged", "err", err)
			u.sink.emit(Event{Kind: EventUpgradeRejected, Err: err})
		} else {
			u.log.Warn("fetch failed; will retry", "err", err)
		}
		return nil, true
	}
	s, err := u.stage(body)
	if err != nil {
		u.log.Error("upgrade not applied: "+stagingAdvice(err), "err", err)
		u.sink.emit(Event{Kind: EventUpgradeRejected, Err: err})
		return nil, true
	}
	keep := false
	defer func() {
		if !keep {
			s.discard()
		}
	}()
	log := u.log.With("id", short(s.id))
	if s.id == u.bin.currentID() {
		log.Debug("fetched binary is the one installed; nothing to do")
		return nil, false
	}
	if why, bad := u.quarantine.reason(s.id); bad {
		log.Debug("fetched binary is quarantined; skipping", "why", why)
		return nil, false
	}
	u.sink.emit(Event{Kind: EventUpgradeFound, BinaryID: s.id})
	if err := verify(s.id); err != nil {
		u.quarantine.add(s.id, "verification failed")
		log.Error("upgrade rejected and quarantined: it was never executed; the running binary is unchanged. Check the published binary and its signature", "err", err)
		u.sink.emit(Event{Kind: EventUpgradeRejected, BinaryID: s.id, Err: err})
		return nil, false
	}
	log.Info("new binary fetched", "size", fileSize(s.path), "verified", u.verify != nil)
	if pre := u.cfg.PreUpgrade; pre != nil {
		if err := pre(s.path); err != nil {
			log.Warn("upgrade cancelled by PreUpgrade", "err", err)
			u.sink.emit(Event{Kind: EventUpgradeRejected, BinaryID: s.id, Err: fmt.Errorf("PreUpgrade: %w", err)})
			return nil, false
		}
	}
	if u.stopped.Load() {
		return nil, false
	}
	if err := checkBinary(s.path, u.cfg.SanityCheckTimeout); err != nil {
		u.quarantine.add(s.id, "sanity check failed")
		log.Error("upgrade rejected and quarantined: the new binary failed its sanity check; the running binary is unchanged. Publish a binary built with overseer for this platform", "err", err)
		u.sink.emit(Event{Kind: EventUpgradeRejected, BinaryID: s.id, Err: err})
		return nil, false
	}
	u.sink.emit(Event{Kind: EventUpgradeVerified, BinaryID: s.id})
	keep = true
	return s, false
}

// stage streams r into an exclusively created file next to the binary,
// hashing it, and leaves it executable, synced and closed.
func (u *upgrader) stage(r io.Reader) (*stagedBinary, error) {
	f, err := os.CreateTemp(u.dir, u.pattern)
	if err != nil {
		return nil, fmt.Errorf("create staging file in %s: %w", u.dir, err)
	}
	u.setStaging(f.Name())
	defer u.setStaging("")
	id, err := func() (string, error) {
		defer f.Close()
		h := sha256.New()
		disk := &diskWriter{f: f}
		n, err := io.Copy(io.MultiWriter(disk, h), io.LimitReader(r, u.cfg.MaxBinarySize+1))
		switch {
		case disk.err != nil:
			return "", &stagingError{dir: u.dir, err: fmt.Errorf("write the new binary after %d bytes: %w", n, disk.err)}
		case err != nil:
			return "", fmt.Errorf("after %d bytes: %w", n, err)
		case n == 0:
			return "", errors.New("the fetched binary is empty")
		case n > u.cfg.MaxBinarySize:
			return "", fmt.Errorf("the fetched binary is larger than MaxBinarySize (%d bytes)", u.cfg.MaxBinarySize)
		}
		if err := f.Chmod(u.bin.mode); err != nil {
			return "", &stagingError{dir: u.dir, err: fmt.Errorf("chmod: %w", err)}
		}
		if err := f.Sync(); err != nil {
			return "", &stagingError{dir: u.dir, err: fmt.Errorf("fsync: %w", err)}
		}
		if err := f.Close(); err != nil {
			return "", &stagingError{dir: u.dir, err: fmt.Errorf("close: %w", err)}
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}()
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return &stagedBinary{path: f.Name(), id: id}, nil
}

// diskWriter writes to the staging file and keeps its error, so that a
// failing disk is told apart from a failing download.
type diskWriter struct {
	f   *os.File
	err error
}

func (w *diskWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// stagingError is a failure to write a fetched binary next to the running
// one: a full disk, a read-only file system, an I/O error. The binary is
// not at fault, so it is not quarantined, and the fetch is retried.
type stagingError struct {
	dir string
	err error
}

func (e *stagingError) Error() string {
	return fmt.Sprintf("cannot stage the new binary in %s: %v", e.dir, e.err)
}

func (e *stagingError) Unwrap() error { return e.err }

// stagingAdvice says what failed in stage and what the operator can do.
func stagingAdvice(err error) string {
	var disk *stagingError
	switch {
	case errors.As(err, &disk) && errors.Is(err, syscall.ENOSPC):
		return "the disk is full; the running binary is unchanged. Free space in " + disk.dir + "; the download is retried"
	case disk != nil:
		return "cannot write next to the binary; the running binary is unchanged. Check the file system of " + disk.dir + "; the download is retried"
	default:
		return "download failed; the running binary is unchanged. The download is retried"
	}
}

// install swaps s in for the running binary, keeping the old one as the
// backup.
func (u *upgrader) install(s *stagedBinary) (*installed, error) {
	prev := u.bin.currentID()
	if err := u.replace(u.backup, u.bin.path); err != nil {
		s.discard()
		return nil, fmt.Errorf("keep the previous binary as %s: %w", u.backup, err)
	}
	if err := os.Rename(s.path, u.bin.path); err != nil {
		s.discard()
		return nil, fmt.Errorf("rename into place: %w", err)
	}
	if err := syncDir(u.dir); err != nil {
		u.log.Warn("upgrade installed but not yet durable", "err", err)
	}
	u.bin.setID(s.id)
	return &installed{id: s.id, prevID: prev, backup: u.backup}, nil
}

// rollback puts the backup of inst back in place and quarantines inst.
func (u *upgrader) rollback(inst *installed) error {
	u.quarantine.add(inst.id, "its restart failed")
	tmp, err := os.CreateTemp(u.dir, u.pattern)
	if err != nil {
		return err
	}
	tmp.Close()
	if err := u.replace(tmp.Name(), inst.backup); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), u.bin.path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := syncDir(u.dir); err != nil {
		u.log.Warn("rollback not yet durable", "err", err)
	}
	u.bin.setID(inst.prevID)
	return nil
}

// replace makes dst a hard link to src, or a copy of it where hard links
// are not possible, replacing whatever dst was.
func (u *upgrader) replace(dst, src string) error {
	os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, u.bin.mode)
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

// stop makes the fetch loop end at its next step; a download under way is
// abandoned before its sanity check.
func (u *upgrader) stop() { u.stopped.Store(true) }

// setStaging records the staging file being written.
func (u *upgrader) setStaging(path string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stageNow = path
}

// abandon removes a staging file left by a fetch cut short by shutdown.
func (u *upgrader) abandon() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stageNow != "" && strings.Contains(u.stageNow, ".overseer-new-") {
		os.Remove(u.stageNow)
	}
}

// fileSize returns the size of path, or -1.
func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return info.Size()
}

// quarantine remembers binaries that failed, by ID, so they are not
// applied again. Safe for concurrent use.
type quarantine struct {
	mu  sync.Mutex
	ids map[string]string
}

// add quarantines id.
func (q *quarantine) add(id, why string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ids == nil {
		q.ids = make(map[string]string)
	}
	q.ids[id] = why
}

// reason reports whether id is quarantined, and why.
func (q *quarantine) reason(id string) (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	why, ok := q.ids[id]
	return why, ok
}
