package fetcher

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// File polls a path on the local file system for a new binary.
//
// A change is noticed by the file's size and modification time; the master
// then compares the content hash, so touching the file without changing it
// costs one read and no restart. A file that is still being written (its
// size or modification time keeps changing) is waited for, up to a few
// seconds, before it is read. Publishing atomically (write elsewhere, then
// rename onto Path) is the most reliable way to hand over a binary.
//
// A missing file is not an error: File keeps waiting for one to appear.
//
// A version counts as seen only once it has been read to its end. If the
// master stops reading early (the disk it stages on is full, or the
// signature is not there yet), the next Fetch offers the same file again.
//
// The reader Fetch returns implements Signed with the file at Path plus
// ".minisig"; when a signature is required, write it before the binary.
// The signature's size and modification time are part of the version: a
// corrected signature written beside an unchanged binary offers the binary
// again (one stat per poll, no read when nothing changed). When File is
// the Source of a Manifest, only the manifest is watched: see Manifest.
//
// The reader implements Refusable: a version the master refuses for its
// size is not offered again until the file changes.
type File struct {
	// Path is the file to watch. Required.
	Path string
	// Interval is the time between checks. Values below one second are
	// raised to one second.
	Interval time.Duration

	checked  bool // Fetch has run before: sleep before the next check
	manifest bool // polled by Manifest: the signature's stamp is not part of the version

	mu   sync.Mutex   // guards last: a reader commits from its consumer's goroutine
	last releaseStamp // the version last read to its end (or refused), or seen missing
}

// fileStamp identifies one version of a file cheaply.
type fileStamp struct {
	exists  bool
	size    int64
	modTime int64 // Unix nanoseconds: comparable with ==, whatever the time zone
}

// releaseStamp identifies one version of the binary and its signature.
type releaseStamp struct {
	bin, sig fileStamp
}

// settleChecks and settleInterval bound how long File waits for a file that
// is still being written.
const (
	settleInterval = 250 * time.Millisecond
	settleChecks   = 20
)

// Init validates Path and sets the default Interval. A file already
// present at Path when Init runs is the baseline, as in jpillora/overseer:
// it is not offered, and Fetch waits for it to change (or to appear, if
// there is none). A stale build left at Path therefore never replaces the
// binary that is starting.
func (f *File) Init() error {
	if f.Path == "" {
		return errors.New("fetcher.File: Path is required")
	}
	if f.Interval < time.Second {
		f.Interval = time.Second
	}
	stamp, err := f.stat()
	if err != nil {
		return err
	}
	f.commit(stamp)
	return nil
}

// Fetch sleeps for Interval (except on the first call), then returns the
// file at Path if its size or modification time, or those of its
// signature file, changed since the version last read to its end.
func (f *File) Fetch() (io.Reader, error) {
	if f.checked {
		time.Sleep(f.Interval)
	}
	f.checked = true
	stamp, err := f.stat()
	if err != nil {
		return nil, err
	}
	if !stamp.bin.exists {
		f.commit(stamp)
		return nil, nil
	}
	if f.seen(stamp) {
		return nil, nil
	}
	// Wait until two consecutive looks agree, so a file mid-copy is not read.
	for i := 0; ; i++ {
		if i == settleChecks {
			return nil, fmt.Errorf("fetcher.File: %s is still changing after %s", f.Path, settleInterval*settleChecks)
		}
		time.Sleep(settleInterval)
		again, err := f.stat()
		if err != nil {
			return nil, err
		}
		if again == stamp {
			break
		}
		stamp = again
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("fetcher.File: %w", err)
	}
	return &fileBinary{file: file, sigPath: f.Path + ".minisig", atEOF: func() { f.commit(stamp) }}, nil
}

// stat returns the stamps of the binary and of its signature.
func (f *File) stat() (releaseStamp, error) {
	bin, err := statFile(f.Path)
	if err != nil {
		return releaseStamp{}, err
	}
	if f.manifest {
		return releaseStamp{bin: bin}, nil
	}
	sig, err := statFile(f.Path + ".minisig")
	if err != nil {
		return releaseStamp{}, err
	}
	return releaseStamp{bin: bin, sig: sig}, nil
}

// pollManifest implements manifestSource.
func (f *File) pollManifest() { f.manifest = true }

// unsee implements manifestSource: the next Fetch reads the file that is
// there.
func (f *File) unsee() { f.commit(releaseStamp{}) }

// seen reports whether stamp is the version last read to its end.
func (f *File) seen(stamp releaseStamp) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last == stamp
}

// commit records stamp as seen.
func (f *File) commit(stamp releaseStamp) {
	f.mu.Lock()
	f.last = stamp
	f.mu.Unlock()
}

// fileBinary is the reader File.Fetch returns: the open binary, which also
// supplies the signature published beside it. Reading it to its end marks
// its version as seen.
type fileBinary struct {
	file    *os.File
	sigPath string
	atEOF   func() // called at the end of the file, then cleared
}

// Read reads the binary.
func (b *fileBinary) Read(p []byte) (int, error) {
	n, err := b.file.Read(p)
	if err == io.EOF && b.atEOF != nil {
		b.atEOF()
		b.atEOF = nil
	}
	return n, err
}

// Close closes the binary.
func (b *fileBinary) Close() error { return b.file.Close() }

// Refuse implements Refusable: this version counts as seen.
func (b *fileBinary) Refuse() {
	if b.atEOF != nil {
		b.atEOF()
		b.atEOF = nil
	}
}

// maxSignatureSize bounds a .minisig file (a real one is under 400 bytes).
const maxSignatureSize = 64 << 10

// Signature implements Signed: it reads Path + ".minisig", or returns nil
// if there is none. Publish the signature before the binary.
func (b *fileBinary) Signature() ([]byte, error) {
	sig, err := os.Open(b.sigPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetcher.File: %w", err)
	}
	defer sig.Close()
	raw, err := io.ReadAll(io.LimitReader(sig, maxSignatureSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetcher.File: read %s: %w", b.sigPath, err)
	}
	if len(raw) > maxSignatureSize {
		return nil, fmt.Errorf("fetcher.File: %s is larger than %d bytes: not a signature", b.sigPath, maxSignatureSize)
	}
	return raw, nil
}

// statFile returns the stamp of path; a missing file is a stamp with
// exists == false, not an error.
func statFile(path string) (fileStamp, error) {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fileStamp{}, nil
	}
	if err != nil {
		return fileStamp{}, fmt.Errorf("fetcher.File: %w", err)
	}
	return fileStamp{exists: true, size: info.Size(), modTime: info.ModTime().UnixNano()}, nil
}
