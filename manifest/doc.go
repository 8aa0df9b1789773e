// Package manifest reads, verifies and writes signed release manifests: the
// small JSON file a fleet of services polls to learn which release to run,
// for which platforms, until when, and on which hosts.
//
// A manifest names one release (a version and, per GOOS/GOARCH, an asset
// with its size and SHA-256), an expiry, an optional channel and a rollout
// rule: a percentage of hosts, and host names that take it regardless. It
// is signed with minisign, by the same key as the binaries; the signature
// (the manifest's name plus ".minisig") covers the manifest's exact bytes,
// and its trusted comment carries the signing time ("timestamp:<unix>"),
// which orders manifests: a host applies a manifest only if it was signed
// after the newest release it accepted.
//
// A host decides on its own, with no coordinator: [Verify] checks the
// signature and the format, and [Decide] checks the rest, returning the
// asset to download or an error that wraps one of the Err* reasons. The
// rollout is a stable hash of the host's identity and the release version
// (see [Point]): raising the percentage only adds hosts, and a host never
// flips in and out while the percentage holds.
//
// The format is documented field by field in docs/manifest.md.
package manifest
