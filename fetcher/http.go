package fetcher

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/fetcher/internal/remote"
)

// Defaults shared by the network fetchers.
const (
	// DefaultInterval is the time between polls of a remote source when
	// Interval is zero.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout bounds connecting and waiting for a response, and any
	// single pause while a body streams, when Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxSize is the largest binary a fetcher accepts when MaxSize
	// is zero: 1 GiB.
	DefaultMaxSize = 1 << 30
)

// defaultHTTPCheckHeaders are compared when the server does not support
// conditional requests.
var defaultHTTPCheckHeaders = []string{"ETag", "Last-Modified", "Content-Length"}

// HTTP polls a URL for a new binary.
//
// Each poll is one conditional GET. Once a download has completed, its ETag
// and Last-Modified response headers are sent back as If-None-Match and
// If-Modified-Since; a 304 Not Modified answer means nothing changed and
// costs no body. A 200 answer starts the download: Fetch returns a reader
// over the response body (the request for the body is therefore already
// issued when Fetch returns). Validators are only remembered once the body
// has been read to its end, so a download that fails half-way is retried
// by the next poll.
//
// Servers without validators are handled by comparing CheckHeaders: when
// the last complete download carried neither ETag nor Last-Modified, a poll
// first sends a HEAD request and downloads only if one of CheckHeaders
// differs from the last download. When none of them is present either,
// every poll downloads and the master discards identical binaries by hash.
// A server that ignores conditional requests and answers 200 with the same
// validators and CheckHeaders values is treated as unchanged and its body is
// not read.
//
// A URL whose path ends in ".gz" is decompressed while it streams, unless
// the server declared the gzip as a Content-Encoding (the transport then
// decompresses it already).
//
// The reader returned by Fetch implements Signed: its Signature method
// fetches the URL with ".minisig" appended to its path. That signature must
// sign the bytes the reader yields (the decompressed binary for a ".gz"
// URL). Once the master has asked for a signature, every poll that finds
// the binary unchanged also sends a conditional GET for the signature
// (If-None-Match and If-Modified-Since from its last answer; without
// validators its few hundred bytes are compared): a corrected signature
// published beside an unchanged binary makes the next poll download the
// binary again. When nothing changed, neither request carries a body.
// When HTTP is the Source of a Manifest, the signature is not polled on its
// own: an unchanged manifest costs its one conditional GET.
//
// The reader implements Refusable: a version the master refuses for its
// size counts as seen, and is not downloaded again until it changes.
//
// The zero value is not usable: set URL and pass the HTTP to overseer (or
// call Init yourself). Fetch must not be called concurrently with itself.
type HTTP struct {
	// URL is the binary to poll. Required; http or https.
	URL string
	// Interval is the time between polls; zero means DefaultInterval
	// (5 minutes). Every wait is jittered by ±10%, and after consecutive
	// failures it doubles, up to 16 × Interval (at most one hour).
	Interval time.Duration
	// CheckHeaders are the response headers that identify a version of
	// the binary when the server does not support conditional requests.
	// Nil means ETag, Last-Modified and Content-Length.
	CheckHeaders []string

	// Client sends the requests; nil means a client with the standard dial
	// and TLS timeouts. Its redirect policy applies (the default follows up
	// to 10 redirects).
	Client *http.Client
	// Header holds extra request headers sent with every request, e.g.
	// Authorization.
	Header http.Header
	// MaxSize is the largest binary accepted, in bytes, counted both as
	// transferred and after decompression; zero means DefaultMaxSize
	// (1 GiB). A larger body fails while it streams.
	MaxSize int64
	// Timeout bounds connecting and waiting for response headers, and any
	// single pause while the body streams; zero means DefaultTimeout
	// (30 seconds). There is no limit on the whole download.
	Timeout time.Duration

	u      *url.URL
	op     string
	client *http.Client
	pacer  remote.Pacer

	manifest bool // polled by Manifest: the signature is not polled on its own

	mu   sync.Mutex // guards last: readers commit from the consumer's goroutine
	last httpVersion
}

// httpVersion identifies the last completely downloaded version.
type httpVersion struct {
	etag, lastModified string
	checks             map[string]string // canonical header → value; "" if absent
	sig                sigVersion        // its signature, if the master asked for one
}

// sigVersion identifies a version of the signature file.
type sigVersion struct {
	known              bool   // the signature was fetched for this version
	present            bool   // it existed (not 404 or 410)
	etag, lastModified string // its validators, for a conditional request
	sum                [32]byte
}

// Init validates URL and applies the defaults. It returns an error if URL
// is empty or not an absolute http or https URL.
func (h *HTTP) Init() error {
	if h.URL == "" {
		return errors.New("fetcher.HTTP: URL is required")
	}
	u, err := url.Parse(h.URL)
	if err != nil {
		return fmt.Errorf("fetcher.HTTP: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("fetcher.HTTP: URL %q is not an absolute http or https URL", remote.Display(u))
	}
	h.u = u
	h.op = "fetcher.HTTP: get " + remote.Display(u)
	if h.Interval <= 0 {
		h.Interval = DefaultInterval
	}
	if h.CheckHeaders == nil {
		h.CheckHeaders = defaultHTTPCheckHeaders
	}
	if h.MaxSize <= 0 {
		h.MaxSize = DefaultMaxSize
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultTimeout
	}
	h.client = h.Client
	if h.client == nil {
		h.client = remote.NewClient(h.Timeout)
	}
	h.pacer.Interval = h.Interval
	return nil
}

// Fetch waits for the next poll (not before the first), then returns nil,
// nil if the binary is unchanged, or a reader over the new binary. The
// reader implements io.Closer and Signed. Errors name the URL (without its
// query or credentials) and the step that failed.
func (h *HTTP) Fetch() (io.Reader, error) {
	if h.u == nil {
		return nil, errors.New("fetcher.HTTP: Fetch called before Init")
	}
	h.pacer.Wait()
	r, err := h.poll()
	if err != nil {
		h.failed(err)
		return nil, err
	}
	if r == nil {
		h.pacer.Succeeded()
		return nil, nil
	}
	return r, nil
}

// poll performs one check, and starts the download if there is something
// new: a changed binary, or a changed signature beside an unchanged one.
func (h *HTTP) poll() (io.Reader, error) {
	h.mu.Lock()
	last := h.last
	h.mu.Unlock()

	r, err := h.pollBinary(last, true)
	if r != nil || err != nil || !last.sig.known || h.manifest {
		return r, err
	}
	sig, ver, changed, err := h.signatureChanged(last.sig)
	if err != nil || !changed {
		return nil, err
	}
	r, err = h.pollBinary(last, false)
	if hr, ok := r.(*httpReader); ok {
		hr.once.Do(func() { hr.sig, hr.sigVer = sig, ver })
	}
	return r, err
}

// pollBinary checks the binary (with a conditional request when
// conditional is set) and starts its download if it changed, or
// unconditionally when conditional is not set.
func (h *HTTP) pollBinary(last httpVersion, conditional bool) (io.Reader, error) {
	if conditional && last.etag == "" && last.lastModified == "" && last.identifiable() {
		changed, err := h.headChanged(last)
		if err != nil || !changed {
			return nil, err
		}
	}
	req, err := h.newRequest(http.MethodGet, h.u.String())
	if err != nil {
		return nil, err
	}
	if conditional && last.etag != "" {
		req.Header.Set("If-None-Match", last.etag)
	}
	if conditional && last.lastModified != "" {
		req.Header.Set("If-Modified-Since", last.lastModified)
	}
	call, err := remote.Do(h.client, req, h.Timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.op, err)
	}
	resp := call.Resp
	switch {
	case resp.StatusCode == http.StatusNotModified:
		call.Discard()
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		call.Discard()
		return nil, fmt.Errorf("%s: %w", h.op, remote.StatusError(resp))
	}
	cur := h.versionOf(resp)
	if conditional && last.etag == cur.etag && last.lastModified == cur.lastModified && sameVersion(last, cur) {
		// The server ignored the conditional request but serves the same
		// version: do not read it again.
		call.Close()
		cur.sig = last.sig
		h.commit(cur)
		return nil, nil
	}
	gz := gunzipped(h.u.Path, resp)
	if !gz && resp.ContentLength > h.MaxSize {
		call.Close()
		return nil, fmt.Errorf("%s: Content-Length %d: %w of %d bytes", h.op, resp.ContentLength, remote.ErrTooLarge, h.MaxSize)
	}
	// The body streams under the reader's own stall detection.
	call.Detach()
	s := remote.Opened(h.op, call.Ctx, call.Cancel, resp.Body)
	s.Gunzip = gz
	s.MaxSize = h.MaxSize
	s.Stall = h.Timeout
	r := &httpReader{Stream: s, h: h}
	s.OnEOF = func() {
		h.commit(r.version(cur))
		h.pacer.Succeeded()
	}
	s.OnError = h.failed
	r.refuse = func() {
		h.commit(r.version(cur))
		h.pacer.Succeeded()
	}
	return r, nil
}

// pollManifest implements manifestSource.
func (h *HTTP) pollManifest() { h.manifest = true }

// unsee implements manifestSource: with no version known, the next poll is
// an unconditional GET.
func (h *HTTP) unsee() { h.commit(httpVersion{}) }

// headChanged asks with HEAD whether CheckHeaders differ from last. A server
// that does not allow HEAD counts as changed.
func (h *HTTP) headChanged(last httpVersion) (bool, error) {
	req, err := h.newRequest(http.MethodHead, h.u.String())
	if err != nil {
		return false, err
	}
	call, err := remote.Do(h.client, req, h.Timeout)
	if err != nil {
		return false, fmt.Errorf("fetcher.HTTP: head %s: %w", remote.Display(h.u), err)
	}
	call.Close()
	resp := call.Resp
	switch resp.StatusCode {
	case http.StatusOK:
		return !sameVersion(last, h.versionOf(resp)), nil
	case http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true, nil
	}
	return false, fmt.Errorf("fetcher.HTTP: head %s: %w", remote.Display(h.u), remote.StatusError(resp))
}

// newRequest builds a request carrying the configured extra headers.
func (h *HTTP) newRequest(method, rawURL string) (*http.Request, error) {
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetcher.HTTP: %w", err)
	}
	for k, vs := range h.Header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	return req, nil
}

// versionOf extracts the identifying headers of a response.
func (h *HTTP) versionOf(resp *http.Response) httpVersion {
	v := httpVersion{
		etag:         resp.Header.Get("ETag"),
		lastModified: resp.Header.Get("Last-Modified"),
		checks:       make(map[string]string, len(h.CheckHeaders)),
	}
	for _, name := range h.CheckHeaders {
		v.checks[http.CanonicalHeaderKey(name)] = resp.Header.Get(name)
	}
	return v
}

// identifiable reports whether v has any CheckHeaders value to compare.
func (v httpVersion) identifiable() bool {
	for _, val := range v.checks {
		if val != "" {
			return true
		}
	}
	return false
}

// sameVersion reports whether two responses carry the same CheckHeaders
// values, at least one of them present.
func sameVersion(a, b httpVersion) bool {
	present := false
	for name, av := range a.checks {
		if b.checks[name] != av {
			return false
		}
		present = present || av != ""
	}
	return present && len(a.checks) == len(b.checks)
}

// commit remembers a completely downloaded version.
func (h *HTTP) commit(v httpVersion) {
	h.mu.Lock()
	h.last = v
	h.mu.Unlock()
}

// failed records a failure for the backoff and tells the operator when
// failures repeat.
func (h *HTTP) failed(err error) {
	n, next := h.pacer.Failed()
	remote.LogBackoff("fetcher.HTTP", n, next, err)
}

// gunzipped reports whether a body at path must be decompressed: a ".gz"
// file that the transport has not already decompressed.
func gunzipped(path string, resp *http.Response) bool {
	return strings.HasSuffix(path, ".gz") && !resp.Uncompressed
}

// httpReader is the reader HTTP.Fetch returns.
type httpReader struct {
	*remote.Stream
	h      *HTTP
	refuse func()

	once   sync.Once
	sig    []byte
	sigVer sigVersion
	err    error
}

// Signature implements Signed by fetching the URL with ".minisig" appended
// to its path, once per reader. A 404 or 410 means there is no signature.
func (r *httpReader) Signature() ([]byte, error) {
	r.once.Do(func() {
		var changed bool
		r.sig, r.sigVer, changed, r.err = r.h.signatureChanged(sigVersion{})
		if !changed && r.err == nil {
			r.err = errors.New("fetcher.HTTP: the signature request was answered 304 Not Modified without being conditional")
		}
	})
	return r.sig, r.err
}

// Refuse implements Refusable: this version counts as seen.
func (r *httpReader) Refuse() { r.refuse() }

// version returns cur with the signature this reader fetched, if any.
func (r *httpReader) version(cur httpVersion) httpVersion {
	r.once.Do(func() {}) // no signature fetched from now on
	if r.err == nil {
		cur.sig = r.sigVer
	}
	return cur
}

// signatureChanged fetches the detached signature of URL (the URL with
// ".minisig" appended to its path), conditionally on last when last is
// known. It returns the signature (nil if there is none), its version, and
// whether it differs from last.
func (h *HTTP) signatureChanged(last sigVersion) ([]byte, sigVersion, bool, error) {
	u := *h.u
	u.Path += ".minisig"
	if u.RawPath != "" {
		u.RawPath += ".minisig"
	}
	op := "fetcher.HTTP: get signature " + remote.Display(&u)
	req, err := h.newRequest(http.MethodGet, u.String())
	if err != nil {
		return nil, sigVersion{}, false, err
	}
	if last.known && last.present {
		if last.etag != "" {
			req.Header.Set("If-None-Match", last.etag)
		}
		if last.lastModified != "" {
			req.Header.Set("If-Modified-Since", last.lastModified)
		}
	}
	call, err := remote.Do(h.client, req, h.Timeout)
	if err != nil {
		return nil, sigVersion{}, false, fmt.Errorf("%s: %w", op, err)
	}
	defer call.Close()
	resp := call.Resp
	ver := sigVersion{known: true}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		return nil, last, false, nil
	case http.StatusNotFound, http.StatusGone:
		return nil, ver, !last.known || last.present, nil
	default:
		return nil, sigVersion{}, false, fmt.Errorf("%s: %w", op, remote.StatusError(resp))
	}
	b, err := remote.ReadSmall(resp.Body, remote.MaxSignatureSize)
	if err != nil {
		return nil, sigVersion{}, false, fmt.Errorf("%s: %w", op, err)
	}
	if err := remote.CheckMinisig(b); err != nil {
		return nil, sigVersion{}, false, fmt.Errorf("%s: %w", op, err)
	}
	ver.present = true
	ver.etag, ver.lastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	ver.sum = sha256.Sum256(b)
	return b, ver, !last.known || !last.present || ver.sum != last.sum, nil
}
