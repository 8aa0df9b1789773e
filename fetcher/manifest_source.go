package fetcher

import (
	"crypto/sha256"
	"errors"

	"github.com/seed-710818af/overseer/manifest"
)

// manifestSource is implemented by the fetchers Manifest can poll (HTTP,
// File, S3, Github). It is how Manifest tells its Source that it polls a
// signed manifest rather than a binary, without adding to their exported
// API.
type manifestSource interface {
	// pollManifest makes the fetcher watch the manifest alone: a new
	// signature beside an unchanged manifest is not looked for, so an
	// unchanged manifest costs one request per poll. Manifest calls it
	// before the fetcher's Init.
	pollManifest()
	// unsee forgets the version last read to its end, so that the next
	// poll offers what is published then, manifest and signature, even if
	// the manifest did not change.
	unsee()
}

// unverifiedRetries is how many times in a row Manifest reads the same
// manifest bytes when they do not verify against the signature fetched
// with them. Between two reads the source forgets the manifest, so the next
// poll fetches the manifest and its signature again: a host that polled
// while a publisher was between writing the signature and the manifest
// (or, on a store that does not keep the order of writes, the other way
// round) converges at its next polls, without another publication. After
// the last read the manifest counts as seen, like any refused manifest,
// and costs one bodiless request per poll until it changes.
const unverifiedRetries = 3

// unverified counts the consecutive reads of one manifest that did not
// verify.
type unverified struct {
	sum   [32]byte // SHA-256 of the manifest's bytes
	reads int
}

// retryUnverified records that data did not verify (err) and reports
// whether Source was told to offer it again at the next poll. Only a
// manifest that does not match its signature is retried: one whose
// signature verifies but whose content is malformed will not get better.
func (m *Manifest) retryUnverified(data []byte, err error) bool {
	src, ok := m.Source.(manifestSource)
	if !ok || !errors.Is(err, manifest.ErrTampered) {
		return false
	}
	sum := sha256.Sum256(data)
	m.mu.Lock()
	if m.failed.sum != sum {
		m.failed = unverified{sum: sum}
	}
	m.failed.reads++
	retry := m.failed.reads < unverifiedRetries
	m.mu.Unlock()
	if retry {
		src.unsee()
	}
	return retry
}

// verified resets the count of unverified reads.
func (m *Manifest) verified() {
	m.mu.Lock()
	m.failed = unverified{}
	m.mu.Unlock()
}
