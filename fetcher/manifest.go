package fetcher

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/manifest"
)

// Manifest upgrades a fleet from a signed release manifest (see package
// manifest and docs/manifest.md) instead of from a bare binary.
//
// Source polls the manifest file; any fetcher works whose reader implements
// Signed, so the manifest's ".minisig" is fetched beside it: HTTP, File,
// S3 and Github, with their conditional requests. An unchanged manifest
// costs one request and no body: these four watch the manifest alone when
// they are a Manifest's Source, and fetch its signature only with a new
// manifest (a new signature beside the same manifest cannot change what a
// host takes, and every publication writes new manifest bytes). When the
// manifest changed, Manifest verifies its signature with PublicKey and
// decides with manifest.Decide:
// the release must not have expired, must have been signed after the
// newest release this host accepted, must have an asset for this
// platform that is not the running binary nor one this host quarantined
// (refused or rolled back after probation), and this host must be in its
// rollout. Only then is the asset downloaded: no host downloads a binary
// it will not apply. A refused manifest is logged with its reason, the
// service keeps running what it has, and nothing is fetched until the
// manifest changes, with one exception: a manifest that does not verify
// against the signature fetched with it (a poll during a publication can
// see the new manifest with the old signature) is fetched again, with its
// signature, at the next poll, up to 3 reads in a row of the same bytes;
// only then is it refused for good. See docs/manifest.md.
//
// With a Github Source, the manifest is a release asset (manifest.json
// when Github.Asset is nil) and an asset given by name is the asset of
// that name in the same release the manifest was read from, with its
// NAME.minisig asset as its signature: a release published between the
// poll and the download cannot mix two versions. It is downloaded as
// Github downloads binaries (Token, the API address, MaxSize, Timeout).
// A checksums file in the release need not list the manifest, which is
// signed.
//
// The asset's reader implements Checksummed with the manifest's SHA-256,
// so the master refuses (and quarantines) a binary that does not match,
// and Signed with the asset's own ".minisig": when Config.PublicKey is
// set, the master also requires a signature of the binary, which the
// overseer-release command publishes. A download that is cut off is
// retried at the next poll, even if the manifest did not change.
//
// The host's durable release state (the master's
// .<binary>.overseer-state file beside the running binary) is read at every
// decision: its quarantine and the newest signed time apply to manifests.
//
// Fetch must not be called concurrently with itself.
type Manifest struct {
	// Source polls the manifest file. Required. Its Interval sets the
	// polling rate.
	Source Interface
	// PublicKey is the minisign public key the manifest must be signed
	// with (the second line of the .pub file, or the whole file); the same
	// key as Config.PublicKey. Required.
	PublicKey string
	// HostID is this host's identity for the rollout; empty means
	// manifest.HostID (the machine-id, else the host name).
	HostID string
	// HostName is matched against the rollout's host names (as is
	// HostID); empty means os.Hostname.
	HostName string
	// Channel, if set, refuses manifests of any other channel.
	Channel string
	// Platform is the asset to take, "GOOS/GOARCH"; empty means this
	// program's runtime.GOOS/runtime.GOARCH.
	Platform string
	// Running is the SHA-256 (hex) of the running binary; empty means the
	// executable is hashed once by Init.
	Running string
	// StateFile is the master's release state file; empty means the one
	// beside the running executable. Set os.DevNull to use none.
	StateFile string
	// Open opens an asset, given its name (relative to the manifest) or
	// URL, when the default does not fit. By default an asset URL is
	// fetched with HTTP; a name is resolved beside the manifest for HTTP
	// (the URL), File (the directory) and S3 (the key's prefix) sources,
	// and in the manifest's own release for a Github source.
	Open func(ref string) (io.Reader, error)
	// Client downloads http and https assets; nil means Source's client
	// when Source is an *HTTP, else a client with the default timeouts.
	// The named assets of a Github source use the Github fetcher's
	// client.
	Client *http.Client
	// Logger receives the decisions; nil means slog.Default().
	Logger *slog.Logger
	// OnDecision, if set, is called with every decision on a changed
	// manifest (one that does not verify at each read of it), and when a
	// download ends.
	OnDecision func(Decision)

	key     minisign.PublicKey
	log     *slog.Logger
	inited  bool
	mu      sync.Mutex
	newest  time.Time        // signing time of the newest manifest whose asset was delivered
	pending *manifest.Signed // accepted, not yet delivered: retried at the next poll
	from    namedAssets      // where pending's asset names resolve, for sources that resolve them
	failed  unverified       // consecutive reads of a manifest that did not verify
}

// manifestAsset is the release asset a Github Source of Manifest polls
// when its Asset is nil: the file overseer-release writes.
const manifestAsset = "manifest.json"

// Decision is what Manifest decided about one manifest.
type Decision struct {
	// Version and SignedAt identify the manifest; zero when it did not
	// verify.
	Version  string
	SignedAt time.Time
	// Asset is the asset taken, when Err is nil.
	Asset manifest.Asset
	// Downloaded is set once the asset was read to its end with the
	// manifest's size.
	Downloaded bool
	// Err is nil when the asset is taken, else wraps a manifest.Err*
	// reason, or is the failure to download it.
	Err error
}

// Init checks the configuration, fills in the defaults and initialises
// Source.
func (m *Manifest) Init() error {
	if m.Source == nil {
		return errors.New("fetcher.Manifest: Source is required")
	}
	if m.PublicKey == "" {
		return errors.New("fetcher.Manifest: PublicKey is required: manifests are always signed")
	}
	key, err := manifest.ParsePublicKey(m.PublicKey)
	if err != nil {
		return fmt.Errorf("fetcher.Manifest: PublicKey: %w", err)
	}
	m.key = key
	m.log = m.Logger
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.HostID == "" {
		if m.HostID, err = manifest.HostID(); err != nil {
			return fmt.Errorf("fetcher.Manifest: host identity: %w", err)
		}
	}
	if m.HostName == "" {
		m.HostName, _ = os.Hostname()
	}
	if m.Platform == "" {
		m.Platform = runtime.GOOS + "/" + runtime.GOARCH
	}
	if m.Running == "" || m.StateFile == "" {
		if err := m.locateSelf(); err != nil {
			return fmt.Errorf("fetcher.Manifest: %w", err)
		}
	}
	if src, ok := m.Source.(manifestSource); ok {
		src.pollManifest()
	}
	if g, ok := m.Source.(*Github); ok {
		if g.Asset == nil {
			g.Asset = func(name string) bool { return name == manifestAsset }
		}
	}
	if err := m.Source.Init(); err != nil {
		return err
	}
	m.inited = true
	return nil
}

// Fetch polls Source. When the manifest changed and its release applies
// to this host, it returns a reader over the asset; otherwise nil, nil.
// Errors are failures to poll or download, retried at the next call.
func (m *Manifest) Fetch() (io.Reader, error) {
	if !m.inited {
		return nil, errors.New("fetcher.Manifest: Fetch called before Init")
	}
	r, err := m.Source.Fetch()
	if err != nil {
		return nil, err
	}
	if r != nil {
		s, from, err := m.read(r)
		switch {
		case err == nil:
			return m.take(s, from)
		case !isRefusal(err):
			return nil, err
		}
		m.refused(Decision{Err: err})
	}
	// Nothing new, or a manifest that does not verify: retry the download
	// of the release accepted before, if it was cut off.
	m.mu.Lock()
	s, from := m.pending, m.from
	m.mu.Unlock()
	if s == nil {
		return nil, nil
	}
	return m.take(s, from)
}

// read fetches the signature, then reads and verifies the manifest. The
// signature comes first: if it cannot be fetched, the manifest is not read
// to its end, so Source offers it again at the next poll. For a source
// that resolves asset names itself, it also returns the place the
// manifest came from (its GitHub release).
func (m *Manifest) read(r io.Reader) (*manifest.Signed, namedAssets, error) {
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	var sig []byte
	if sr, ok := r.(Signed); ok {
		var err error
		if sig, err = sr.Signature(); err != nil {
			return nil, nil, fmt.Errorf("fetcher.Manifest: the manifest's signature: %w", err)
		}
	} else {
		return nil, nil, fmt.Errorf("fetcher.Manifest: %w: Source (%T) cannot supply signatures", manifest.ErrTampered, m.Source)
	}
	data, err := io.ReadAll(io.LimitReader(r, manifest.MaxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("fetcher.Manifest: read the manifest: %w", err)
	}
	s, err := manifest.Verify(m.key, data, sig)
	if err != nil {
		if m.retryUnverified(data, err) {
			return nil, nil, fmt.Errorf("fetcher.Manifest: %w (%w)", err, errVerifyAgain)
		}
		return nil, nil, fmt.Errorf("fetcher.Manifest: %w", err)
	}
	m.verified()
	var from namedAssets
	if gr, ok := r.(*githubReader); ok {
		from = gr.namedAssets()
	}
	return s, from, nil
}

// take decides on s and, if it applies, opens its asset; from resolves
// its asset names when the source does (else nil).
func (m *Manifest) take(s *manifest.Signed, from namedAssets) (io.Reader, error) {
	host, err := m.host()
	if err != nil {
		return nil, err
	}
	d := Decision{Version: s.Version, SignedAt: s.SignedAt}
	a, err := manifest.Decide(s, host, time.Now())
	if err != nil {
		m.mu.Lock()
		m.pending, m.from = nil, nil
		m.mu.Unlock()
		d.Err = fmt.Errorf("fetcher.Manifest: %w", err)
		m.refused(d)
		return nil, nil
	}
	d.Asset = a
	m.mu.Lock()
	m.pending, m.from = s, from
	m.mu.Unlock()
	body, err := m.open(a, from)
	if err != nil {
		d.Err = fmt.Errorf("fetcher.Manifest: download %s of release %s: %w", a.Ref(), s.Version, err)
		m.report(d)
		return nil, d.Err
	}
	m.log.Info("fetcher.Manifest: taking release", "version", s.Version, "signed", s.SignedAt, "asset", a.Ref(), "sha256", a.SHA256)
	m.report(d)
	return &assetReader{r: body, asset: a, done: func(err error) { m.downloaded(s, d, err) }}, nil
}

// downloaded records the end of an asset's download.
func (m *Manifest) downloaded(s *manifest.Signed, d Decision, err error) {
	if err == nil {
		m.mu.Lock()
		if s.SignedAt.After(m.newest) {
			m.newest = s.SignedAt
		}
		if m.pending == s {
			m.pending, m.from = nil, nil
		}
		m.mu.Unlock()
		d.Downloaded = true
	} else {
		d.Err = err
		if errors.Is(err, manifest.ErrMismatch) {
			m.mu.Lock()
			if m.pending == s {
				m.pending, m.from = nil, nil // a wrong asset is not fetched again
			}
			m.mu.Unlock()
			m.log.Error("fetcher.Manifest: the published asset does not match its manifest; release refused, the service keeps running what it has", "version", s.Version, "err", err)
		}
	}
	m.report(d)
}

// refused logs a refused manifest at a level that fits its reason.
func (m *Manifest) refused(d Decision) {
	const keep = "; the service keeps running what it has"
	switch err := d.Err; {
	case errors.Is(err, errVerifyAgain):
		m.log.Warn("fetcher.Manifest: the manifest does not verify against its signature (a publication in progress?); both are fetched again at the next poll", "err", err)
	case errors.Is(err, manifest.ErrUpToDate):
		m.log.Debug("fetcher.Manifest: release already running", "version", d.Version)
	case errors.Is(err, manifest.ErrOutsideRollout):
		m.log.Info("fetcher.Manifest: this host is not in the release's rollout yet", "version", d.Version, "err", err)
	case errors.Is(err, manifest.ErrQuarantined):
		m.log.Info("fetcher.Manifest: release refused: quarantined on this host"+keep, "version", d.Version, "err", err)
	case errors.Is(err, manifest.ErrExpired):
		m.log.Error("fetcher.Manifest: manifest refused: it has EXPIRED; the publisher must re-sign it"+keep, "version", d.Version, "err", err)
	case errors.Is(err, manifest.ErrTampered), errors.Is(err, manifest.ErrFormat):
		m.log.Error("fetcher.Manifest: manifest refused: it does not verify"+keep, "err", err)
	default:
		m.log.Warn("fetcher.Manifest: manifest refused"+keep, "version", d.Version, "err", err)
	}
	m.report(d)
}

// report passes d to OnDecision.
func (m *Manifest) report(d Decision) {
	if m.OnDecision != nil {
		m.OnDecision(d)
	}
}

// errVerifyAgain marks a manifest that did not verify and that Source
// offers again at the next poll (see unverifiedRetries).
var errVerifyAgain = errors.New("the manifest and its signature are fetched again at the next poll")

// isRefusal reports whether err is a verdict on the manifest rather than a
// failure to fetch it.
func isRefusal(err error) bool {
	return errors.Is(err, manifest.ErrTampered) || errors.Is(err, manifest.ErrFormat)
}
