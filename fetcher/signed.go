package fetcher

// Signed is implemented by readers returned from Fetch that can supply a
// detached minisign signature (the .minisig file's bytes) for the binary
// they stream; a nil slice and nil error means the source published no
// signature.
//
// The master calls Signature before it reads the binary, so that a binary
// that cannot be verified is not downloaded for nothing. The readers of
// HTTP, Github and S3 implement it: HTTP fetches the URL with ".minisig"
// appended to its path, Github the release asset named like the binary's
// asset plus ".minisig", S3 the object whose key is Key plus ".minisig".
// The signature must cover the bytes the reader yields, that is the
// decompressed binary when the source is gzipped. A signature file that is
// not shaped like a minisign signature is an error, as is failing to fetch
// it for any reason other than its absence. The result is fetched once per
// reader and then remembered.
type Signed interface {
	Signature() ([]byte, error)
}

// Checksummed is implemented by readers returned from Fetch that know the
// expected SHA-256 digest of the binary they stream, as published by the
// source; "" and a nil error mean the source published no checksum for it.
//
// The digest is lowercase hex and covers the bytes the reader yields. The
// readers of Github implement it from a goreleaser-style checksums.txt
// release asset. Like Signature, SHA256 can be called before the binary is
// read.
type Checksummed interface {
	SHA256() (string, error)
}
