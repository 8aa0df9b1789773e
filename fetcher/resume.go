package fetcher

// Resumable is implemented by a fetcher whose memory of what it has
// already offered must outlive the process that holds it. A master that
// re-executes itself in place asks the old image's fetcher for a
// Checkpoint and gives it to the new image's fetcher with Resume, right
// after Init: a version published while the master re-executed is then
// offered, instead of being taken for what was there at start.
//
// File implements it: at Init it takes the file already at Path as its
// baseline, which is right when the service starts and would lose a
// release published during a re-exec. The network fetchers need not: they
// offer the current version at their first Fetch, and the master skips a
// binary identical to the running one.
type Resumable interface {
	// Checkpoint describes what the fetcher has seen, as text. It is safe
	// to call while Fetch runs.
	Checkpoint() string
	// Resume makes the fetcher continue from a Checkpoint of the same
	// kind of fetcher. An unusable checkpoint is an error, and the
	// fetcher then behaves as after Init alone.
	Resume(checkpoint string) error
}
