// Package s3 links the implementation of fetcher.S3 into a program.
//
// fetcher.S3 is built on the AWS SDK for Go v2. To keep the SDK out of
// programs that do not poll S3, package fetcher does not import it; a
// program that uses fetcher.S3 imports this package for its side effect:
//
//	import (
//		"github.com/seed-710818af/overseer/fetcher"
//		_ "github.com/seed-710818af/overseer/fetcher/s3"
//	)
//
//	f := &fetcher.S3{Bucket: "releases", Key: "myapp_linux_amd64.gz"}
//
// The package has no API of its own; everything is configured through
// fetcher.S3.
package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/fetcher/internal/remote"
)

func init() { remote.RegisterS3(newFetcher) }

// loadTimeout bounds loading the AWS configuration (it reads local files
// only; credentials are resolved lazily, on the first request).
const loadTimeout = 30 * time.Second

// s3Fetcher implements fetcher.S3.
type s3Fetcher struct {
	cfg    *fetcher.S3
	client *awss3.Client
	op     string // "fetcher.S3: s3://bucket/key"
	gz     bool
	pacer  remote.Pacer
	// manifest is set for fetcher.Manifest's source: the signature is not
	// polled on its own (see manifestpoll.go).
	manifest bool

	mu       sync.Mutex // guards lastETag, lastSig: readers commit from the consumer's goroutine
	lastETag string
	lastSig  s3Sig // the signature of that version, if the master asked for one
}

// s3Sig identifies a version of the signature object.
type s3Sig struct {
	known bool   // the signature was fetched for the last version
	etag  string // its ETag, unquoted; "" when there was none
}

func newFetcher(cfg any) (remote.Fetcher, error) {
	s, ok := cfg.(*fetcher.S3)
	if !ok {
		return nil, fmt.Errorf("fetcher/s3: unexpected configuration %T", cfg)
	}
	return &s3Fetcher{cfg: s}, nil
}

// Init takes the process's SDK client for these settings (see clients).
// fetcher.S3.Init has already validated the fields and applied the
// defaults.
func (f *s3Fetcher) Init() error {
	s := f.cfg
	f.op = "fetcher.S3: s3://" + s.Bucket + "/" + s.Key
	f.gz = strings.HasSuffix(s.Key, ".gz")
	client, err := clientFor(s)
	if err != nil {
		return fmt.Errorf("%s: %w", f.op, err)
	}
	f.client = client
	f.pacer.Interval = s.Interval
	if !f.gz {
		f.lastETag = executableMD5()
	}
	return nil
}

// Fetch implements fetcher.S3.Fetch.
func (f *s3Fetcher) Fetch() (io.Reader, error) {
	f.pacer.Wait()
	r, err := f.poll()
	if err != nil {
		f.failed(err)
		return nil, err
	}
	if r == nil {
		f.pacer.Succeeded()
		return nil, nil
	}
	return r, nil
}

// poll checks the object's ETag and prepares the download if it changed.
func (f *s3Fetcher) poll() (io.Reader, error) {
	s := f.cfg
	ctx, cancel := context.WithTimeout(context.Background(), s.HeadTimeout)
	defer cancel()
	head, err := f.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Key)})
	if err != nil {
		return nil, fmt.Errorf("%s: head: %w", f.op, explain(ctx, err))
	}
	etag := aws.ToString(head.ETag)
	f.mu.Lock()
	last, lastSig := f.lastETag, f.lastSig
	f.mu.Unlock()
	if etag != "" && strings.Trim(etag, `"`) == last {
		if !lastSig.known || f.manifest {
			return nil, nil
		}
		// The binary is unchanged; a corrected signature beside it is a
		// new release. One HeadObject tells.
		sigETag, err := f.signatureETag()
		if err != nil || sigETag == lastSig.etag {
			return nil, err
		}
	}
	if size := aws.ToInt64(head.ContentLength); !f.gz && size > s.MaxSize {
		return nil, fmt.Errorf("%s: object of %d bytes: %w of %d bytes", f.op, size, remote.ErrTooLarge, s.MaxSize)
	}
	stream := remote.Lazy(f.op+": get", func(ctx context.Context) (io.ReadCloser, error) {
		in := &awss3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Key)}
		if etag != "" {
			in.IfMatch = aws.String(etag)
		}
		out, err := f.client.GetObject(ctx, in)
		if err != nil {
			return nil, explain(ctx, err)
		}
		return out.Body, nil
	})
	stream.Gunzip = f.gz
	stream.MaxSize = s.MaxSize
	stream.Deadline = s.GetTimeout
	if fetcher.DefaultTimeout < s.GetTimeout {
		stream.Stall = fetcher.DefaultTimeout
	}
	r := &s3Reader{Stream: stream, f: f}
	seen := func() {
		f.mu.Lock()
		f.lastETag = strings.Trim(etag, `"`)
		f.lastSig = r.version()
		f.mu.Unlock()
		f.pacer.Succeeded()
	}
	stream.OnEOF = seen
	stream.OnError = func(err error) {
		// Replaced between the HEAD and the GET (a publish in progress):
		// the next poll, at once, finds the new version.
		if errors.Is(err, remote.ErrReplaced) && f.pacer.Again() {
			return
		}
		f.failed(err)
	}
	r.refuse = seen
	return r, nil
}

// signatureETag returns the ETag of the signature object, unquoted, or ""
// if there is none (404, or 403 as in signature).
func (f *s3Fetcher) signatureETag() (string, error) {
	s := f.cfg
	ctx, cancel := context.WithTimeout(context.Background(), s.HeadTimeout)
	defer cancel()
	head, err := f.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Key + ".minisig")})
	if err != nil {
		switch statusCode(err) {
		case http.StatusNotFound, http.StatusForbidden:
			return "", nil
		}
		return "", fmt.Errorf("fetcher.S3: s3://%s/%s.minisig: head: %w", s.Bucket, s.Key, explain(ctx, err))
	}
	return strings.Trim(aws.ToString(head.ETag), `"`), nil
}

// failed records a failure for the backoff.
func (f *s3Fetcher) failed(err error) {
	n, next := f.pacer.Failed()
	remote.LogBackoff("fetcher.S3", n, next, err)
}

// s3Reader is the reader fetcher.S3.Fetch returns.
type s3Reader struct {
	*remote.Stream
	f      *s3Fetcher
	refuse func()

	once    sync.Once
	sig     []byte
	sigETag string
	asked   bool
	err     error
}

// Signature implements fetcher.Signed: the object Key + ".minisig", fetched
// once per reader.
func (r *s3Reader) Signature() ([]byte, error) {
	r.once.Do(func() {
		r.asked = true
		r.sig, r.sigETag, r.err = r.f.signature()
	})
	return r.sig, r.err
}

// Refuse implements fetcher.Refusable: this version counts as seen.
func (r *s3Reader) Refuse() { r.refuse() }

// version identifies the signature this reader fetched; not known if none
// was asked for, or fetching it failed.
func (r *s3Reader) version() s3Sig {
	r.once.Do(func() {}) // no signature fetched from now on
	if !r.asked || r.err != nil {
		return s3Sig{}
	}
	return s3Sig{known: true, etag: r.sigETag}
}

// signature gets and checks the detached signature. A missing object is no
// signature; so is 403, which S3 answers for a missing key when the
// credentials may not list the bucket: absence never makes a binary
// trusted, so treating a denial as absence is safe.
func (f *s3Fetcher) signature() ([]byte, string, error) {
	s := f.cfg
	key := s.Key + ".minisig"
	op := "fetcher.S3: s3://" + s.Bucket + "/" + key + ": get"
	ctx, cancel := context.WithTimeout(context.Background(), s.HeadTimeout)
	defer cancel()
	out, err := f.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		switch statusCode(err) {
		case http.StatusNotFound, http.StatusForbidden:
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("%s: %w", op, explain(ctx, err))
	}
	defer out.Body.Close()
	b, err := remote.ReadSmall(out.Body, remote.MaxSignatureSize)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, explain(ctx, err))
	}
	if err := remote.CheckMinisig(b); err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	return b, strings.Trim(aws.ToString(out.ETag), `"`), nil
}

// statusCode returns the HTTP status of an SDK error, or 0.
func statusCode(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// explain makes errors caused by a timeout say so, and adds a hint for the
// statuses that usually mean a configuration mistake.
func explain(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		if c := context.Cause(ctx); c != nil && c != context.Canceled && c != context.DeadlineExceeded {
			return c
		}
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("timed out: %w", err)
		}
	}
	switch statusCode(err) {
	case http.StatusNotFound:
		return fmt.Errorf("not found (wrong bucket, key, region or access key?): %w", err)
	case http.StatusForbidden:
		return fmt.Errorf("access denied (wrong credentials or missing permission?): %w", err)
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%w (a new version was published meanwhile): %w", remote.ErrReplaced, err)
	}
	return err
}

// executableMD5 returns the hex MD5 of the running executable, the ETag S3
// gives to the same file uploaded in one part, or "" if it cannot be read.
func executableMD5() string {
	exeMD5Once.Do(func() { exeMD5 = hashExecutable() })
	return exeMD5
}

// The running executable does not change for the life of a process (an
// upgrade starts a new one), so it is hashed once, however many fetchers
// are made: fetcher.Manifest makes one per asset it downloads.
var (
	exeMD5Once sync.Once
	exeMD5     string
)

// hashExecutable returns the hex MD5 of the running executable, or "".
func hashExecutable() string {
	path, err := os.Executable()
	if err != nil {
		return ""
	}
	file, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer file.Close()
	h := md5.New()
	if _, err := io.Copy(h, file); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
