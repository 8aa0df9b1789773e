package s3

import "github.com/seed-710818af/overseer/fetcher/internal/remote"

var _ remote.ManifestPoller = (*s3Fetcher)(nil)

// PollManifest implements remote.ManifestPoller: fetcher.Manifest polls a
// signed manifest through this fetcher. A new signature beside an unchanged
// manifest cannot make a host take anything new (the manifest says what to
// take), so an unchanged manifest costs its one HeadObject, without the
// second one for Key + ".minisig".
func (f *s3Fetcher) PollManifest() { f.manifest = true }

// Unsee implements remote.ManifestPoller: the manifest last read did not
// verify, so the next poll offers the object again, with its signature.
func (f *s3Fetcher) Unsee() {
	f.mu.Lock()
	f.lastETag, f.lastSig = "", s3Sig{}
	f.mu.Unlock()
}
