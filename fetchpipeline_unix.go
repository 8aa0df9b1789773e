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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
)

// The fetch pipeline: fetch → verify → stage → check, on a goroutine of
// its own (fetchLoop). A fetched binary is streamed into a file created
// exclusively next to the running binary, hashed while it streams, and
// checked (signature, checksum, PreUpgrade, sanity check); only a binary
// that passed everything reaches the event loop, which installs it (see
// binary.go).

// fetchPipeline fetches, stages and checks new binaries.
type fetchPipeline struct {
	cfg    *Config
	log    *slog.Logger
	sink   *eventSink
	bin    *binary // where binaries are staged, and what is running
	verify *verifier

	stopped atomic.Bool // the service is stopping: fetch nothing more

	mu       sync.Mutex
	stageNow string // the staging file being written, removed by abandon
}

// newFetchPipeline checks that new binaries can be staged next to the
// running one and initialises the fetcher.
func newFetchPipeline(c *Config, log *slog.Logger, sink *eventSink, bin *binary) (*fetchPipeline, error) {
	p := &fetchPipeline{cfg: c, log: log, sink: sink, bin: bin}
	v, err := newVerifier(c.PublicKey)
	if err != nil {
		return nil, err
	}
	p.verify = v
	probe, err := os.CreateTemp(p.bin.dir, p.bin.pattern)
	if err != nil {
		return nil, fmt.Errorf("cannot create files next to the binary (overseer stages upgrades in %s; make it writable): %w", p.bin.dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if err := c.Fetcher.Init(); err != nil {
		return nil, fmt.Errorf("fetcher init: %w", err)
	}
	return p, nil
}

// fetchLoop polls the fetcher forever, at most once per MinFetchInterval,
// and sends each binary that passes the checks to events.
func (p *fetchPipeline) fetchLoop(inbox chan<- loopMsg) {
	failures := 0
	for !p.stopped.Load() {
		begun := time.Now()
		s, failed := p.fetchOnce()
		if s != nil {
			inbox <- upgradeMsg{staged: s}
		}
		if failed {
			failures++
		} else {
			failures = 0
		}
		if wait := fetchPause(p.cfg.MinFetchInterval, failures) - time.Since(begun); wait > 0 {
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
func (p *fetchPipeline) fetchOnce() (staged *stagedBinary, failed bool) {
	r, err := p.cfg.Fetcher.Fetch()
	if err != nil {
		// Not counted as a failure here: fetchers back off on their own
		// errors, and a second backoff on top would only delay recovery.
		if errors.Is(err, fetcher.ErrReplaced) {
			p.log.Info(replacedAdvice, "err", err)
		} else {
			p.log.Warn("fetch failed; will retry", "err", err)
		}
		return nil, false
	}
	if r == nil {
		p.log.Debug("no new binary")
		return nil, false
	}
	if p.stopped.Load() {
		if c, ok := r.(io.Closer); ok {
			c.Close()
		}
		return nil, false
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	exp, err := p.verify.expect(r)
	if err != nil {
		if errors.Is(err, errRejected) {
			// Not offered again until the binary or its signature
			// changes: the rejection is logged once.
			if rf, ok := r.(fetcher.Refusable); ok {
				rf.Refuse()
			}
			p.log.Error("upgrade rejected before download; the running binary is unchanged", "err", err)
			p.sink.emit(Event{Kind: EventUpgradeRejected, Err: err})
		} else {
			p.log.Warn("fetch failed; will retry", "err", err)
		}
		return nil, true
	}
	s, err := p.stage(exp.body)
	if errors.Is(err, errTooLarge) || errors.Is(err, fetcher.ErrTooLarge) {
		p.refuseOversized(r, err)
		return nil, false
	}
	if errors.Is(err, fetcher.ErrReplaced) {
		p.log.Info(replacedAdvice, "err", err)
		return nil, false
	}
	if err != nil {
		p.log.Error("upgrade not applied: "+stagingAdvice(err), "err", err)
		p.sink.emit(Event{Kind: EventUpgradeRejected, Err: err})
		return nil, true
	}
	s.signedAt = exp.signedAt
	keep := false
	defer func() {
		if !keep {
			s.discard()
		}
	}()
	release := exp.releaseID(s.id)
	log := p.log.With("id", short(s.id))
	if s.id == p.bin.currentID() {
		log.Debug("fetched binary is the one installed; nothing to do")
		return nil, false
	}
	if why, bad := p.quarantined(s.id, release); bad {
		log.Debug("fetched binary is quarantined; skipping", "why", why)
		return nil, false
	}
	p.sink.emit(Event{Kind: EventUpgradeFound, BinaryID: s.id})
	if err := exp.check(s.id); err != nil {
		// Quarantined with its signature: the same binary published
		// again with a corrected signature is another release.
		p.quarantine(release, "verification failed")
		log.Error("upgrade rejected and quarantined: it was never executed; the running binary is unchanged. Check the published binary and its signature", "err", err)
		p.sink.emit(Event{Kind: EventUpgradeRejected, BinaryID: s.id, Err: err})
		return nil, false
	}
	if err := p.checkNewer(exp.signedAt, s.id); err != nil {
		p.quarantine(release, "downgrade")
		log.Error("upgrade refused and quarantined: its signature is not newer than the installed release's, as a replayed older release's would be; the running binary is unchanged. To roll back on purpose, sign the older binary again (the new signature carries the current time) and publish it", "err", err)
		p.sink.emit(Event{Kind: EventUpgradeRejected, BinaryID: s.id, Err: err})
		return nil, false
	}
	log.Info("new binary fetched", "size", fileSize(s.path), "verified", p.verify != nil)
	if pre := p.cfg.PreUpgrade; pre != nil {
		if err := pre(s.path); err != nil {
			log.Warn("upgrade cancelled by PreUpgrade", "err", err)
			p.sink.emit(Event{Kind: EventUpgradeRejected, BinaryID: s.id, Err: fmt.Errorf("PreUpgrade: %w", err)})
			return nil, false
		}
	}
	if p.stopped.Load() {
		return nil, false
	}
	if err := checkBinary(s.path, p.cfg.SanityCheckTimeout); err != nil {
		p.quarantine(s.id, "sanity check failed")
		log.Error("upgrade rejected and quarantined: the new binary failed its sanity check; the running binary is unchanged. Publish a binary built with overseer for this platform", "err", err)
		p.sink.emit(Event{Kind: EventUpgradeRejected, BinaryID: s.id, Err: err})
		return nil, false
	}
	p.sink.emit(Event{Kind: EventUpgradeVerified, BinaryID: s.id})
	keep = true
	return s, false
}

// stage streams r into an exclusively created file next to the binary,
// hashing it, and leaves it executable, synced and closed.
func (p *fetchPipeline) stage(r io.Reader) (*stagedBinary, error) {
	f, err := os.CreateTemp(p.bin.dir, p.bin.pattern)
	if err != nil {
		return nil, fmt.Errorf("create staging file in %s: %w", p.bin.dir, err)
	}
	p.setStaging(f.Name())
	defer p.setStaging("")
	id, err := func() (string, error) {
		defer f.Close()
		h := sha256.New()
		disk := &diskWriter{f: f}
		n, err := io.Copy(io.MultiWriter(disk, h), io.LimitReader(r, p.cfg.MaxBinarySize+1))
		switch {
		case disk.err != nil:
			return "", &stagingError{dir: p.bin.dir, err: fmt.Errorf("write the new binary after %d bytes: %w", n, disk.err)}
		case err != nil:
			return "", fmt.Errorf("after %d bytes: %w", n, err)
		case n == 0:
			return "", errors.New("the fetched binary is empty")
		case n > p.cfg.MaxBinarySize:
			return "", fmt.Errorf("%w (%d bytes; decompressed, for a gzipped release)", errTooLarge, p.cfg.MaxBinarySize)
		}
		if err := f.Chmod(p.bin.mode); err != nil {
			return "", &stagingError{dir: p.bin.dir, err: fmt.Errorf("chmod: %w", err)}
		}
		if err := f.Sync(); err != nil {
			return "", &stagingError{dir: p.bin.dir, err: fmt.Errorf("fsync: %w", err)}
		}
		if err := f.Close(); err != nil {
			return "", &stagingError{dir: p.bin.dir, err: fmt.Errorf("close: %w", err)}
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

// replacedAdvice is logged when the published binary was replaced during
// its download: a publish in progress, not a fault.
const replacedAdvice = "the published binary was replaced during its download (a publish in progress); fetching the new one"

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

// stop makes the fetch loop end at its next step; a download under way is
// abandoned before its sanity check.
func (p *fetchPipeline) stop() { p.stopped.Store(true) }

// setStaging records the staging file being written.
func (p *fetchPipeline) setStaging(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stageNow = path
}

// abandon removes a staging file left by a fetch cut short by shutdown.
func (p *fetchPipeline) abandon() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stageNow != "" && strings.Contains(p.stageNow, ".overseer-new-") {
		os.Remove(p.stageNow)
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

// quarantine records that release id was refused; a failure to record it
// durably is logged, and the refusal holds for as long as this master
// runs.
func (p *fetchPipeline) quarantine(id, why string) {
	if err := p.bin.releases.quarantine(id, why); err != nil {
		p.log.Warn("quarantine not saved; it holds until the master restarts", "id", short(id), "err", err)
	}
}
