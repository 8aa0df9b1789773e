package fetcher

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/seed-710818af/overseer/fetcher/internal/remote"
)

// S3 defaults, as in jpillora/overseer.
const (
	// DefaultS3Region is used when neither S3.Region nor the AWS
	// configuration (AWS_REGION, the shared config file) names a region.
	DefaultS3Region = "ap-southeast-2"
	// DefaultHeadTimeout bounds each change check when S3.HeadTimeout is
	// zero.
	DefaultHeadTimeout = 5 * time.Second
	// DefaultGetTimeout bounds each download when S3.GetTimeout is zero.
	DefaultGetTimeout = 5 * time.Minute
)

// S3 polls an object in Amazon S3, or in an S3-compatible store, for a new
// binary.
//
// Linking: S3 is implemented with the AWS SDK for Go v2, which adds about a
// megabyte to a binary. So that programs using only the other fetchers do
// not pay for it, the implementation lives in package
// github.com/seed-710818af/overseer/fetcher/s3, which a program using S3
// imports for its side effect:
//
//	import _ "github.com/seed-710818af/overseer/fetcher/s3"
//
// Without that import, Init returns an error that says so.
//
// Each poll is one HeadObject request: when the object's ETag equals that
// of the last complete download, nothing else is sent. Before the first
// download, the ETag is compared with the MD5 of the running executable, so
// an object identical to it (uploaded in one part) is not downloaded at
// start-up. Otherwise Fetch returns a reader whose GetObject request (with
// If-Match on the ETag just seen, so a concurrent upload cannot mix
// versions) is only sent on its first Read; when the object was replaced
// in between, the read fails with ErrReplaced and the next poll starts at
// once. A key
// ending in ".gz" is decompressed while it streams.
//
// The reader implements Signed: its Signature method gets the object Key
// plus ".minisig"; a missing object (404, or 403 when the credentials may
// not list the bucket) means no signature. Once the master has asked for a
// signature, a poll that finds the binary's ETag unchanged sends a second
// HeadObject for the signature: a corrected signature uploaded beside an
// unchanged binary makes the binary be offered again (not when S3 is the
// Source of a Manifest: an unchanged manifest costs one HeadObject, see
// Manifest). The ETags are only remembered once the body was read to its
// end, so a failed download is retried. The reader implements Refusable: a
// version the master refuses for its size is not downloaded again until
// its ETag changes.
//
// The AWS configuration is loaded once per process for each distinct
// Region, credentials, Endpoint, UsePathStyle and Client, when the first
// S3 with those settings is initialised: S3 fetchers that agree on them
// (such as the one fetcher.Manifest polls and those it makes to download
// assets) share one SDK client, its connections and its credentials
// cache.
//
// Fetch must not be called concurrently with itself.
type S3 struct {
	// Access and Secret are static credentials. When both are empty, the
	// AWS SDK's default chain is used: environment variables
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the
	// shared config and credentials files (profiles, SSO), web identity
	// (EKS), ECS container credentials and EC2 instance metadata. Setting
	// only one of them is an error.
	Access string
	Secret string
	// Region of the bucket. Empty means the region of the AWS
	// configuration, or DefaultS3Region when there is none.
	Region string
	// Bucket and Key name the object. Required.
	Bucket string
	Key    string
	// Interval is the time between polls; zero means DefaultInterval
	// (5 minutes). Waits are jittered by ±10% and back off after failures.
	Interval time.Duration
	// HeadTimeout bounds each change check (and the signature download);
	// zero means DefaultHeadTimeout (5 seconds).
	HeadTimeout time.Duration
	// GetTimeout bounds each whole download; zero means DefaultGetTimeout
	// (5 minutes). A download that makes no progress for 30 seconds fails
	// sooner.
	GetTimeout time.Duration

	// Endpoint is the URL of an S3-compatible service (MinIO, Ceph,
	// versitygw, R2...); empty means AWS.
	Endpoint string
	// UsePathStyle addresses objects as ENDPOINT/BUCKET/KEY instead of
	// BUCKET.ENDPOINT/KEY, as most S3-compatible services need.
	UsePathStyle bool
	// MaxSize is the largest binary accepted, in bytes, both as stored and
	// after decompression; zero means DefaultMaxSize (1 GiB).
	MaxSize int64

	// Client sends the requests to S3 (for a proxy, TLS settings, tracing
	// or a connection pool shared with other code); nil means the AWS
	// SDK's own client, which honours AWS_CA_BUNDLE. Credential providers
	// (instance metadata, SSO, STS) use the SDK's client either way.
	// Timeouts come from HeadTimeout and GetTimeout, not from
	// Client.Timeout.
	Client *http.Client

	impl     remote.Fetcher
	manifest bool // polled by Manifest: the signature is not polled on its own
}

// Init validates the configuration, applies the defaults and loads the AWS
// configuration (without contacting S3). It fails when Bucket or Key is
// empty, when only one of Access and Secret is set, when the AWS
// configuration cannot be loaded, or when the implementation is not linked
// in (see the type's documentation).
func (s *S3) Init() error {
	if s.Bucket == "" || s.Key == "" {
		return errors.New("fetcher.S3: Bucket and Key are required")
	}
	if (s.Access == "") != (s.Secret == "") {
		return errors.New("fetcher.S3: set both Access and Secret, or neither to use the default credential chain")
	}
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.HeadTimeout <= 0 {
		s.HeadTimeout = DefaultHeadTimeout
	}
	if s.GetTimeout <= 0 {
		s.GetTimeout = DefaultGetTimeout
	}
	if s.MaxSize <= 0 {
		s.MaxSize = DefaultMaxSize
	}
	newS3 := remote.S3()
	if newS3 == nil {
		return fmt.Errorf("fetcher.S3: the S3 implementation is not linked into this program; add: import _ %q", "github.com/seed-710818af/overseer/fetcher/s3")
	}
	impl, err := newS3(s)
	if err != nil {
		return err
	}
	if mp, ok := impl.(remote.ManifestPoller); ok && s.manifest {
		mp.PollManifest()
	}
	if err := impl.Init(); err != nil {
		return err
	}
	s.impl = impl
	return nil
}

// Fetch waits for the next poll (not before the first), then returns nil,
// nil if the object is unchanged, or a reader over the new binary that
// implements io.Closer and Signed. Errors name the bucket, the key and the
// operation that failed.
func (s *S3) Fetch() (io.Reader, error) {
	if s.impl == nil {
		return nil, errors.New("fetcher.S3: Fetch called before a successful Init")
	}
	return s.impl.Fetch()
}

// pollManifest implements manifestSource.
func (s *S3) pollManifest() { s.manifest = true }

// unsee implements manifestSource.
func (s *S3) unsee() {
	if mp, ok := s.impl.(remote.ManifestPoller); ok {
		mp.Unsee()
	}
}
