package fetcher

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/fetcher/internal/remote"
)

// DefaultGithubAPI is the GitHub REST API used when Github.BaseURL is empty.
const DefaultGithubAPI = "https://api.github.com"

// errRateLimited marks errors caused by GitHub's rate limits: the fetcher
// then waits for the reset instead of backing off.
var errRateLimited = errors.New("rate limited")

// Github polls the latest release of a GitHub repository for a new binary.
//
// Each poll is one request for the latest release, conditional on the ETag
// of the release last downloaded: an unchanged release costs a 304 with no
// body, which does not count against an authenticated client's rate limit.
// When the release metadata changed but the chosen asset did not (its id,
// size and upload time; download counters change the metadata all the
// time), the poll reports no update.
//
// The binary is the first asset whose name Asset accepts; signatures,
// checksum files and other companion files (.minisig, .sig, .asc, .sha256,
// checksums.txt, SBOMs...) are never chosen. It is downloaded through the
// API address of the asset (Accept: application/octet-stream, following the
// redirect to the storage host), so private repositories work with a Token.
// The download request is only sent on the first Read of the reader Fetch
// returns, so nothing large is transferred before the master has checked the
// signature. An asset whose name ends in ".gz" is decompressed while it
// streams.
//
// The reader implements Signed (the asset named like the binary plus
// ".minisig"; a signature asset replaced beside an unchanged binary offers
// the binary again, except for the manifest of a Manifest), Refusable and
// Checksummed (from a goreleaser-style checksums.txt asset, see SHA256 on
// Checksummed). When the release has a checksums file, the
// reader also verifies the downloaded bytes against it and fails at the end
// of the stream on a mismatch or a missing entry.
//
// When GitHub answers 403 or 429 with a rate limit (X-RateLimit-Remaining:
// 0 and X-RateLimit-Reset, or Retry-After), Fetch returns an error, logs a
// warning with the reset time, and the next Fetch waits until then (at most
// an hour).
//
// Fetch must not be called concurrently with itself.
type Github struct {
	// User and Repo name the repository, as in github.com/User/Repo.
	// Required.
	User, Repo string
	// Interval is the time between polls; zero means DefaultInterval
	// (5 minutes). Without a Token, GitHub allows 60 requests an hour.
	// Every wait is jittered by ±10% and backs off after failures, like
	// HTTP's.
	Interval time.Duration
	// Asset selects the binary among the release's assets by file name.
	// Nil means: the name contains both runtime.GOOS and runtime.GOARCH,
	// e.g. myapp_linux_amd64.gz.
	Asset func(filename string) bool

	// Token authenticates to the API (a personal access token, or the
	// GITHUB_TOKEN of a workflow). Empty means the environment variable
	// GITHUB_TOKEN, if set. It is only sent to the host of BaseURL.
	Token string
	// BaseURL is the REST API root; empty means DefaultGithubAPI. For
	// GitHub Enterprise Server use https://HOST/api/v3.
	BaseURL string
	// Client sends the requests; nil means a client with the standard dial
	// and TLS timeouts.
	Client *http.Client
	// MaxSize is the largest binary accepted, in bytes, both as
	// transferred and after decompression; zero means DefaultMaxSize.
	MaxSize int64
	// Timeout bounds each API request and any single pause while the
	// binary streams; zero means DefaultTimeout (30 seconds).
	Timeout time.Duration

	op         string
	apiHost    string
	releaseURL string
	client     *http.Client
	pacer      remote.Pacer
	// signedFile is set by Manifest, which polls a signed manifest: a
	// checksums file need not list it (one that does must match), and a
	// replaced signature asset beside it is not a new version.
	signedFile bool

	mu   sync.Mutex // guards last: readers commit from the consumer's goroutine
	last ghSeen
}

// ghSeen identifies the last completely downloaded release asset.
type ghSeen struct {
	etag  string
	asset string
}

// Init validates the configuration and applies the defaults. It returns an
// error if User or Repo is empty or BaseURL is not an absolute http(s) URL.
func (g *Github) Init() error {
	if g.User == "" || g.Repo == "" {
		return errors.New("fetcher.Github: User and Repo are required")
	}
	g.op = "fetcher.Github: " + g.User + "/" + g.Repo
	if g.Token == "" {
		g.Token = os.Getenv("GITHUB_TOKEN")
	}
	if g.BaseURL == "" {
		g.BaseURL = DefaultGithubAPI
	}
	base, err := url.Parse(strings.TrimRight(g.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return fmt.Errorf("%s: BaseURL %q is not an absolute http or https URL", g.op, g.BaseURL)
	}
	g.apiHost = base.Host
	g.releaseURL = base.String() + "/repos/" + url.PathEscape(g.User) + "/" + url.PathEscape(g.Repo) + "/releases/latest"
	if g.Asset == nil {
		g.Asset = defaultAsset
	}
	if g.Interval <= 0 {
		g.Interval = DefaultInterval
	}
	if g.Interval < time.Minute && g.Token == "" {
		slog.Default().Warn(g.op+": polling more than once a minute without a token will exceed GitHub's rate limit of 60 requests an hour",
			"interval", g.Interval)
	}
	if g.MaxSize <= 0 {
		g.MaxSize = DefaultMaxSize
	}
	if g.Timeout <= 0 {
		g.Timeout = DefaultTimeout
	}
	g.client = g.Client
	if g.client == nil {
		g.client = remote.NewClient(g.Timeout)
	}
	g.pacer.Interval = g.Interval
	return nil
}

// Fetch waits for the next poll (not before the first, and until the reset
// after a rate limit), then returns nil, nil if the release's binary is
// unchanged, or a reader over the new binary. The reader implements
// io.Closer, Signed and Checksummed. Errors name the repository and the
// step that failed.
func (g *Github) Fetch() (io.Reader, error) {
	if g.client == nil {
		return nil, errors.New("fetcher.Github: Fetch called before Init")
	}
	g.pacer.Wait()
	r, err := g.poll()
	switch {
	case errors.Is(err, errRateLimited):
		return nil, err // the pacer already waits for the reset
	case err != nil:
		g.failed(err)
		return nil, err
	case r == nil:
		g.pacer.Succeeded()
		return nil, nil
	}
	return r, nil
}

// poll checks the latest release and prepares the download of its binary if
// it is new.
func (g *Github) poll() (io.Reader, error) {
	g.mu.Lock()
	last := g.last
	g.mu.Unlock()

	req, err := g.newRequest(context.Background(), g.releaseURL, "application/vnd.github+json")
	if err != nil {
		return nil, err
	}
	if last.etag != "" {
		req.Header.Set("If-None-Match", last.etag)
	}
	call, err := remote.Do(g.client, req, g.Timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: get latest release: %w", g.op, err)
	}
	defer call.Close()
	switch call.Resp.StatusCode {
	case http.StatusNotModified:
		return nil, nil
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("%s: get latest release: %w", g.op, errNoRelease)
	default:
		return nil, g.statusError("get latest release", call.Resp)
	}
	body, err := remote.ReadSmall(call.Resp.Body, maxReleaseSize)
	if err != nil {
		return nil, fmt.Errorf("%s: get latest release: %w", g.op, remote.Cause(call.Ctx, err))
	}
	rel, err := parseRelease(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.op, err)
	}
	choice, err := choose(rel, g.Asset)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.op, err)
	}
	seen := ghSeen{etag: call.Resp.Header.Get("ETag"), asset: choice.binary.identity()}
	if choice.signature != nil && !g.signedFile {
		// A corrected signature uploaded beside an unchanged binary is a
		// new version: it changes the release, so the poll above saw it.
		// (Not for a manifest: see Manifest.)
		seen.asset += " sig " + choice.signature.identity()
	}
	if seen.asset == last.asset {
		g.commit(seen)
		return nil, nil
	}
	gz := strings.HasSuffix(choice.binary.Name, ".gz")
	if !gz && choice.binary.Size > g.MaxSize {
		return nil, fmt.Errorf("%s: asset %s of %d bytes: %w of %d bytes", g.op, choice.binary.Name, choice.binary.Size, remote.ErrTooLarge, g.MaxSize)
	}
	r := &githubReader{g: g, c: choice, rel: rel}
	s := remote.Lazy(fmt.Sprintf("%s: download %s %s", g.op, choice.tag, choice.binary.Name),
		func(ctx context.Context) (io.ReadCloser, error) { return g.open(ctx, choice.binary, gz) })
	s.Gunzip = gz
	s.MaxSize = g.MaxSize
	s.Stall = g.Timeout
	s.Verify = r.verify
	s.OnEOF = func() {
		g.commit(seen)
		g.pacer.Succeeded()
	}
	s.OnError = func(err error) {
		if !errors.Is(err, errRateLimited) {
			g.failed(err)
		}
	}
	r.Stream = s
	r.refuse = func() {
		g.commit(seen)
		g.pacer.Succeeded()
	}
	return r, nil
}

// pollManifest implements manifestSource.
func (g *Github) pollManifest() { g.signedFile = true }

// unsee implements manifestSource: the next poll is not conditional and
// offers the release's manifest.
func (g *Github) unsee() { g.commit(ghSeen{}) }

// open sends the download request for an asset and returns its body.
func (g *Github) open(ctx context.Context, a ghAsset, gz bool) (io.ReadCloser, error) {
	req, err := g.newRequest(ctx, a.downloadURL(), "application/octet-stream")
	if err != nil {
		return nil, err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, g.statusError("", resp)
	}
	if !gz && resp.ContentLength > g.MaxSize {
		resp.Body.Close()
		return nil, fmt.Errorf("Content-Length %d: %w of %d bytes", resp.ContentLength, remote.ErrTooLarge, g.MaxSize)
	}
	return resp.Body, nil
}

// getSmall downloads a small asset (a signature, a checksums file).
func (g *Github) getSmall(a ghAsset, limit int64) ([]byte, error) {
	op := "download " + a.Name
	req, err := g.newRequest(context.Background(), a.downloadURL(), "application/octet-stream")
	if err != nil {
		return nil, err
	}
	call, err := remote.Do(g.client, req, g.Timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", g.op, op, err)
	}
	defer call.Close()
	if call.Resp.StatusCode != http.StatusOK {
		return nil, g.statusError(op, call.Resp)
	}
	b, err := remote.ReadSmall(call.Resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", g.op, op, remote.Cause(call.Ctx, err))
	}
	return b, nil
}

// newRequest builds a GET request with the API headers; the token is only
// sent to the API host.
func (g *Github) newRequest(ctx context.Context, rawURL, accept string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.op, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "overseer-fetcher")
	if g.Token != "" && req.URL.Host == g.apiHost {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	return req, nil
}

// statusError describes an unexpected response; a rate limit also makes the
// next poll wait for the reset and is logged. With an empty what, the error
// is not prefixed (a Stream prefixes it).
func (g *Github) statusError(what string, resp *http.Response) error {
	body, _ := remote.ReadSmall(resp.Body, 4<<10)
	err := remote.StatusError(resp)
	if m := githubMessage(body); m != "" {
		err = fmt.Errorf("%w: %s", err, m)
	}
	if until, ok := rateLimited(resp.StatusCode, resp.Header, time.Now()); ok {
		g.pacer.Until(until)
		wait := time.Until(until).Round(time.Second)
		slog.Default().Warn(g.op+": rate limited by GitHub, pausing polls until the limit resets",
			"until", until.Format(time.RFC3339), "wait", wait, "authenticated", g.Token != "")
		err = fmt.Errorf("%w until %s (%s): %w", errRateLimited, until.Format(time.RFC3339), wait, err)
	}
	if what == "" {
		return err
	}
	return fmt.Errorf("%s: %s: %w", g.op, what, err)
}

// commit remembers a completely downloaded (or unchanged) release.
func (g *Github) commit(s ghSeen) {
	g.mu.Lock()
	g.last = s
	g.mu.Unlock()
}

// failed records a failure for the backoff.
func (g *Github) failed(err error) {
	n, next := g.pacer.Failed()
	remote.LogBackoff("fetcher.Github", n, next, err)
}

// githubReader is the reader Github.Fetch returns.
type githubReader struct {
	*remote.Stream
	g      *Github
	c      ghChoice
	rel    ghRelease // the whole release, for Manifest's named assets
	refuse func()

	sigOnce sync.Once
	sig     []byte
	sigErr  error

	sumOnce sync.Once
	sums    map[string]string
	sumErr  error
}

// Refuse implements Refusable: this release's binary counts as seen.
func (r *githubReader) Refuse() { r.refuse() }

// Signature implements Signed: the release asset named like the binary plus
// ".minisig", downloaded once per reader; nil, nil if there is none.
func (r *githubReader) Signature() ([]byte, error) {
	r.sigOnce.Do(func() { r.sig, r.sigErr = r.g.signature(r.c.signature) })
	return r.sig, r.sigErr
}

// signature downloads and checks the minisign signature asset a; nil, nil
// if a is nil (the release has none).
func (g *Github) signature(a *ghAsset) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	b, err := g.getSmall(*a, remote.MaxSignatureSize)
	if err != nil {
		return nil, err
	}
	if err := remote.CheckMinisig(b); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", g.op, a.Name, err)
	}
	return b, nil
}

// SHA256 implements Checksummed: the digest the release's checksums file
// lists for the bytes the reader yields, or "" if the release has no
// checksums file. For an asset that is decompressed (name.gz), that is the
// entry for name if listed, and otherwise "": the entry for name.gz covers
// the compressed bytes, which the reader verifies itself. A checksums file
// that lists neither is an error.
func (r *githubReader) SHA256() (string, error) {
	sums, err := r.checksums()
	if err != nil || sums == nil {
		return "", err
	}
	name := r.c.binary.Name
	if plain, gz := strings.CutSuffix(name, ".gz"); gz {
		if sum, ok := sums[plain]; ok {
			return sum, nil
		}
		if _, ok := sums[name]; ok {
			return "", nil
		}
	} else if sum, ok := sums[name]; ok {
		return sum, nil
	}
	return "", fmt.Errorf("%s: %s lists no digest for %s", r.g.op, r.c.checksums.Name, name)
}

// checksums downloads and parses the checksums file once per reader; nil,
// nil if the release has none.
func (r *githubReader) checksums() (map[string]string, error) {
	r.sumOnce.Do(func() {
		if r.c.checksums == nil {
			return
		}
		b, err := r.g.getSmall(*r.c.checksums, maxChecksumsSize)
		if err != nil {
			r.sumErr = err
			return
		}
		if r.sums, err = parseChecksums(b); err != nil {
			r.sumErr = fmt.Errorf("%s: %s: %w", r.g.op, r.c.checksums.Name, err)
		}
	})
	return r.sums, r.sumErr
}

// verify checks the SHA-256 of the downloaded (raw) bytes against the
// checksums file, at the end of the stream.
func (r *githubReader) verify(raw []byte) error {
	sums, err := r.checksums()
	if err != nil || sums == nil {
		return err
	}
	name := r.c.binary.Name
	want, ok := sums[name]
	if !ok && r.g.signedFile {
		return nil
	}
	if !ok {
		// A decompressed asset may be listed by its plain name only; the
		// master checks that digest (see SHA256).
		if _, err := r.SHA256(); err != nil {
			return err
		}
		return nil
	}
	if got := hex.EncodeToString(raw); got != want {
		return fmt.Errorf("SHA-256 mismatch: %s lists %s for %s, downloaded %s", r.c.checksums.Name, want, name, got)
	}
	return nil
}
