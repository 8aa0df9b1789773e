package manifest

import "errors"

// Reasons a manifest or its release is refused. Errors returned by Parse,
// Verify and Decide, and by the fetcher that downloads assets, wrap one of them; test with errors.Is.
var (
	// ErrFormat: the manifest is not a valid manifest of a known format.
	ErrFormat = errors.New("malformed manifest")
	// ErrTampered: the signature is missing, malformed, by another key,
	// or does not match the manifest's bytes.
	ErrTampered = errors.New("manifest signature does not verify")
	// ErrExpired: the manifest's expiry has passed. Re-sign it.
	ErrExpired = errors.New("manifest expired")
	// ErrNotNewer: the manifest was not signed after the newest release
	// this host accepted (a replayed or older manifest).
	ErrNotNewer = errors.New("manifest is not newer than the running release")
	// ErrUpToDate: the release's asset for this platform is the binary
	// that runs. Not a fault: there is nothing to do.
	ErrUpToDate = errors.New("release already running")
	// ErrChannel: the manifest is for another channel than the host's.
	ErrChannel = errors.New("manifest is for another channel")
	// ErrPlatform: the release has no asset for this host's GOOS/GOARCH.
	ErrPlatform = errors.New("no asset for this platform")
	// ErrOutsideRollout: the host is not (yet) in the release's rollout.
	ErrOutsideRollout = errors.New("host outside the rollout")
	// ErrQuarantined: this host refused or rolled back the release's
	// binary before; it does not take it again.
	ErrQuarantined = errors.New("release quarantined on this host")
	// ErrMismatch: the downloaded asset does not have the size or SHA-256
	// the manifest states.
	ErrMismatch = errors.New("asset does not match the manifest")
)
