package fetcher

import "github.com/seed-710818af/overseer/fetcher/internal/remote"

// ErrTooLarge is wrapped by the errors a fetcher's reader returns when the
// binary is larger than the fetcher's MaxSize, as transferred or after
// decompression.
var ErrTooLarge = remote.ErrTooLarge

// ErrReplaced is wrapped by the errors a fetcher's reader returns when the
// published binary was replaced while it was being downloaded: S3 answers
// the download's If-Match on the version the poll found with 412. The
// fetcher's next Fetch starts at once and offers the new version; the
// master logs this as a publish in progress, not as a failed upgrade.
var ErrReplaced = remote.ErrReplaced

// Refusable is implemented by readers returned from Fetch whose fetcher can
// be told that the master refused the version they stream for good without
// reading it to its end: it is larger than Config.MaxBinarySize, a gzip
// file that expands past it, or its signature was refused before the
// download. After Refuse, Fetch treats that version (the binary and the
// signature it offered, if Signature was called) as seen, as if it had
// been read to its end, so it is neither downloaded nor refused again until
// the source publishes another binary or another signature. The readers of
// File, HTTP, Github and S3 implement it.
type Refusable interface {
	Refuse()
}
