package remote

import "io"

// Fetcher mirrors fetcher.Interface (which this package cannot import).
type Fetcher interface {
	Init() error
	Fetch() (io.Reader, error)
}

// ManifestPoller is implemented by the S3 implementation for
// fetcher.Manifest, which polls a signed manifest through fetcher.S3.
type ManifestPoller interface {
	// PollManifest, called before Init, makes the fetcher watch the
	// object alone: no HeadObject of its signature when the object is
	// unchanged.
	PollManifest()
	// Unsee forgets the version last read to its end, so that the next
	// poll offers the object (and its signature) again.
	Unsee()
}

// newS3 builds the S3 implementation from a *fetcher.S3. It is set by package
// fetcher/s3 when a program imports it, so that programs that do not use S3
// do not link the AWS SDK.
var newS3 func(cfg any) (Fetcher, error)

// RegisterS3 installs the S3 implementation. It is called from the init
// function of package fetcher/s3.
func RegisterS3(f func(cfg any) (Fetcher, error)) { newS3 = f }

// S3 returns the registered S3 implementation, or nil if none is linked in.
func S3() func(cfg any) (Fetcher, error) { return newS3 }
