// Package fetcher defines where overseer looks for new binaries.
//
// A fetcher is polled by the overseer master process. Each call to Fetch
// either reports that nothing changed (a nil reader and a nil error) or
// returns a reader that streams the complete new binary. The master owns
// the reader from then on: it reads it to the end, and closes it if it
// implements io.Closer.
//
// Fetch is always called from a single goroutine, one call at a time, so
// implementations need no locking of their own state. Fetchers are expected
// to pace themselves (sleep for their Interval between checks); the master
// additionally enforces Config.MinFetchInterval between calls.
package fetcher

import "io"

// Interface is implemented by every source of new binaries.
//
// Init is called once, before the first Fetch, and may validate the
// configuration and set defaults. An error from Init disables fetching and
// is logged; the service keeps running.
//
// Fetch returns (nil, nil) when there is no new binary, a reader over the new
// binary when there is one, or an error when the check failed. Returning the
// running binary again is harmless: the master compares SHA-256 hashes and
// skips identical binaries.
type Interface interface {
	Init() error
	Fetch() (io.Reader, error)
}

// Func adapts an ordinary function to Interface. Its Init does nothing.
type Func func() (io.Reader, error)

// Init implements Interface; it does nothing and returns nil.
func (f Func) Init() error { return nil }

// Fetch implements Interface by calling f.
func (f Func) Fetch() (io.Reader, error) { return f() }
