package manifest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"path"
	"strings"
	"time"
)

// Format is the manifest format this package reads and writes. A manifest
// of a newer format is refused with ErrFormat: hosts must be upgraded to a
// release that reads it before it is published.
const Format = 1

// MaxSize bounds a manifest file, in bytes.
const MaxSize = 1 << 20

// Manifest is a release manifest: the content of manifest.json.
type Manifest struct {
	// Format is the format number; Format for this package.
	Format int `json:"format"`
	// Version names the release, e.g. "v1.4.0". Required. It seeds the
	// rollout hash, so each release picks its first hosts afresh.
	Version string `json:"version"`
	// Channel is an optional channel name ("stable", "beta"); a host set to
	// a channel refuses a manifest of another.
	Channel string `json:"channel,omitempty"`
	// Expires is when the manifest stops being valid. Required: a manifest
	// that is not re-signed in time freezes the fleet on what it runs
	// rather than letting a stale or replayed manifest drive it.
	Expires time.Time `json:"expires"`
	// Rollout says which hosts take the release; nil means every host.
	Rollout *Rollout `json:"rollout,omitempty"`
	// Assets maps "GOOS/GOARCH" to the binary for that platform.
	Assets map[string]Asset `json:"assets"`
}

// Rollout selects the hosts that take a release: those whose rollout
// point (see Point) is below Percent, and those named in Hosts.
type Rollout struct {
	// Percent is the share of hosts, 0 to 100, in steps of 0.01.
	Percent float64 `json:"percent"`
	// Hosts are host names (or identities) that take the release whatever
	// the percentage: canaries.
	Hosts []string `json:"hosts,omitempty"`
}

// Asset is one platform's binary.
type Asset struct {
	// Name is the binary's path relative to the manifest (slash-separated,
	// no ".." element); set Name or URL.
	Name string `json:"name,omitempty"`
	// URL is the binary's absolute http or https URL; set Name or URL.
	URL string `json:"url,omitempty"`
	// Size is the binary's size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the binary's SHA-256 digest, lowercase hex.
	SHA256 string `json:"sha256"`
}

// Ref returns where the asset is: its Name or its URL.
func (a Asset) Ref() string {
	if a.URL != "" {
		return a.URL
	}
	return a.Name
}

// Parse decodes and validates a manifest. Unknown fields are refused, so
// that a misspelt field is not silently ignored. It checks the form only;
// Verify checks the signature and Decide the rest.
func Parse(data []byte) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxSize)
	}
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if probe.Format != Format {
		return nil, fmt.Errorf("%w: format %d, this release reads format %d", ErrFormat, probe.Format, Format)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrFormat)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the fields of m; errors wrap ErrFormat.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Format != Format:
		return bad("format %d, want %d", m.Format, Format)
	case strings.TrimSpace(m.Version) == "":
		return bad("version is empty")
	case m.Expires.IsZero():
		return bad("expires is missing")
	case len(m.Assets) == 0:
		return bad("no assets")
	}
	if r := m.Rollout; r != nil {
		if math.IsNaN(r.Percent) || r.Percent < 0 || r.Percent > 100 {
			return bad("rollout percent %v is not between 0 and 100", r.Percent)
		}
		if c := r.Percent * 100; math.Abs(c-math.Round(c)) > 1e-6 {
			return bad("rollout percent %v is finer than 0.01", r.Percent)
		}
		for _, h := range r.Hosts {
			if strings.TrimSpace(h) == "" {
				return bad("empty host name in rollout hosts")
			}
		}
	}
	for platform, a := range m.Assets {
		if err := validPlatform(platform); err != nil {
			return bad("%v", err)
		}
		if err := a.validate(); err != nil {
			return bad("asset %s: %v", platform, err)
		}
	}
	return nil
}

// validPlatform checks a "GOOS/GOARCH" key.
func validPlatform(p string) error {
	goos, goarch, ok := strings.Cut(p, "/")
	if !ok || goos == "" || goarch == "" || strings.ContainsAny(p, " \t") || strings.Count(p, "/") != 1 {
		return fmt.Errorf("platform %q is not GOOS/GOARCH", p)
	}
	return nil
}

// validate checks one asset.
func (a Asset) validate() error {
	switch {
	case (a.Name == "") == (a.URL == ""):
		return fmt.Errorf("set exactly one of name and url")
	case a.Size <= 0:
		return fmt.Errorf("size %d is not positive", a.Size)
	case len(a.SHA256) != 64 || strings.ToLower(a.SHA256) != a.SHA256:
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", a.SHA256)
	}
	if _, err := hex.DecodeString(a.SHA256); err != nil {
		return fmt.Errorf("sha256 %q is not hex", a.SHA256)
	}
	if a.URL != "" {
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url %q is not an absolute http or https URL", a.URL)
		}
		return nil
	}
	if strings.HasPrefix(a.Name, "/") || strings.Contains(a.Name, `\`) || path.Clean(a.Name) != a.Name {
		return fmt.Errorf("name %q is not a clean relative path", a.Name)
	}
	for _, elem := range strings.Split(a.Name, "/") {
		if elem == ".." || elem == "." {
			return fmt.Errorf("name %q leaves the manifest's directory", a.Name)
		}
	}
	return nil
}

// Marshal encodes m as indented JSON with a final newline, the form the
// publisher signs.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}
