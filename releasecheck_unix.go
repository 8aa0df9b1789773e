//go:build unix

package overseer

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
)

// The release checks of the fetch pipeline that need the release state:
// downgrades, quarantine by binary or by binary and signature, and
// oversized releases.

// errTooLarge marks a fetched binary larger than Config.MaxBinarySize: a
// fault of the release, refused once and not downloaded again.
var errTooLarge = errors.New("the fetched binary is larger than MaxBinarySize")

// errDowngrade marks a release whose signed time is not newer than the
// newest release installed under the same key.
var errDowngrade = errors.New("downgrade refused")

// checkNewer refuses release binID, signed at signedAt, when another
// release signed at the same time or later was installed. A zero signedAt
// (no public key), an empty state (the first release after a manual
// deploy) and the newest release itself (offered again after a rollback
// that did not quarantine it: its probation was cut short) pass.
func (p *fetchPipeline) checkNewer(signedAt time.Time, binID string) error {
	if signedAt.IsZero() {
		return nil
	}
	newest, newestID := p.bin.releases.newestSigned()
	if newest.IsZero() || signedAt.After(newest) || (signedAt.Equal(newest) && binID == newestID) {
		return nil
	}
	return fmt.Errorf("%w: signed at %s, the installed release at %s",
		errDowngrade, signedAt.Format(time.RFC3339), newest.Format(time.RFC3339))
}

// quarantined reports whether the binary binID, or the release it forms
// with its signature, was refused: a binary that failed its sanity check
// or its probation is refused whatever its signature, a signature that did
// not verify only together with its binary.
func (p *fetchPipeline) quarantined(binID, release string) (string, bool) {
	if why, bad := p.bin.releases.quarantined(binID); bad {
		return why, true
	}
	return p.bin.releases.quarantined(release)
}

// refuseOversized logs and reports a release larger than MaxBinarySize
// (after decompression, for a gzipped one) and tells the fetcher to treat
// its version as seen, so that it is neither downloaded nor logged again
// until the source publishes another. A fetcher that cannot remember
// (not a fetcher.Refusable) offers it again at the next poll.
func (p *fetchPipeline) refuseOversized(r io.Reader, err error) {
	remembered := false
	if rf, ok := r.(fetcher.Refusable); ok {
		rf.Refuse()
		remembered = true
	}
	p.log.Error("upgrade refused: the release is larger than MaxBinarySize; the running binary is unchanged and nothing was kept on disk. Publish a smaller binary or raise Config.MaxBinarySize; this version is not downloaded again",
		"max_bytes", p.cfg.MaxBinarySize, "remembered", remembered, "err", err)
	p.sink.emit(Event{Kind: EventUpgradeRejected, Err: err})
}
