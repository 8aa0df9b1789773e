package fetcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxReleaseSize bounds the size of the release metadata.
const maxReleaseSize = 8 << 20

// ghRelease is the part of GitHub's release object the fetcher uses.
type ghRelease struct {
	ID      int64     `json:"id"`
	TagName string    `json:"tag_name"`
	Assets  []ghAsset `json:"assets"`
}

// ghAsset is one file attached to a release.
type ghAsset struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// URL is the API address of the asset; with Accept:
	// application/octet-stream it redirects to the content, and it works
	// for private repositories.
	URL        string `json:"url"`
	BrowserURL string `json:"browser_download_url"`
	Size       int64  `json:"size"`
	UpdatedAt  string `json:"updated_at"`
	State      string `json:"state"`
}

// downloadURL is where the asset's content is fetched from.
func (a ghAsset) downloadURL() string {
	if a.URL != "" {
		return a.URL
	}
	return a.BrowserURL
}

// identity identifies one upload of an asset: the release metadata (and so
// its ETag) changes with every download count, the asset does not.
func (a ghAsset) identity() string {
	return fmt.Sprintf("%d|%s|%s|%d|%s", a.ID, a.Name, a.UpdatedAt, a.Size, a.downloadURL())
}

// parseRelease decodes release metadata, keeping only complete uploads that
// have a name and an absolute http(s) download address.
func parseRelease(b []byte) (ghRelease, error) {
	var rel ghRelease
	if err := json.Unmarshal(b, &rel); err != nil {
		return ghRelease{}, fmt.Errorf("decode release: %w", err)
	}
	assets := rel.Assets[:0]
	for _, a := range rel.Assets {
		if a.Name == "" || (a.State != "" && a.State != "uploaded") || !absoluteHTTP(a.downloadURL()) {
			continue
		}
		assets = append(assets, a)
	}
	rel.Assets = assets
	return rel, nil
}

// absoluteHTTP reports whether s is an absolute http or https URL.
func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// sidecarSuffixes end the names of assets that describe a binary rather
// than being one; they are never chosen as the binary.
var sidecarSuffixes = []string{
	".minisig", ".sig", ".asc", ".pem", ".crt", ".sha256", ".sha512", ".md5",
	".sbom", ".sbom.json", ".spdx.json", ".cdx.json", ".intoto.jsonl", ".bundle",
}

// isSidecar reports whether an asset is a signature, checksum or other
// companion file.
func isSidecar(name string) bool {
	if isChecksumsName(name) {
		return true
	}
	n := strings.ToLower(name)
	for _, s := range sidecarSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// defaultAsset is jpillora/overseer's matcher: the name contains both GOOS
// and GOARCH.
func defaultAsset(name string) bool {
	return strings.Contains(name, runtime.GOOS) && strings.Contains(name, runtime.GOARCH)
}

// ghChoice is the binary chosen from a release and its companions.
type ghChoice struct {
	tag       string
	binary    ghAsset
	signature *ghAsset // name + ".minisig", if published
	checksums *ghAsset // checksums.txt or similar, if published
}

// choose picks the first asset accepted by match (sidecars excluded), its
// signature and the release's checksums file.
func choose(rel ghRelease, match func(string) bool) (ghChoice, error) {
	c := ghChoice{tag: rel.TagName}
	found := false
	for _, a := range rel.Assets {
		if !isSidecar(a.Name) && match(a.Name) {
			c.binary, found = a, true
			break
		}
	}
	if !found {
		names := make([]string, 0, len(rel.Assets))
		for _, a := range rel.Assets {
			names = append(names, a.Name)
		}
		return ghChoice{}, fmt.Errorf("release %q has no matching asset (assets: %s)", rel.TagName, strings.Join(names, ", "))
	}
	for i, a := range rel.Assets {
		switch {
		case a.Name == c.binary.Name+".minisig" && c.signature == nil:
			c.signature = &rel.Assets[i]
		case isChecksumsName(a.Name) && (c.checksums == nil || a.Name == "checksums.txt"):
			c.checksums = &rel.Assets[i]
		}
	}
	return c, nil
}

// maxRateLimitWait bounds a wait imposed by rate-limit headers; GitHub's
// windows are one hour.
const maxRateLimitWait = time.Hour

// rateLimited reports whether a response says the client is rate limited,
// and until when. It understands GitHub's primary limit (403 or 429 with
// X-RateLimit-Remaining: 0 and X-RateLimit-Reset in Unix seconds) and
// secondary limits (Retry-After in seconds or as an HTTP date). The result
// is at least one second and at most an hour after now.
func rateLimited(status int, h http.Header, now time.Time) (until time.Time, limited bool) {
	if status != http.StatusForbidden && status != http.StatusTooManyRequests {
		return time.Time{}, false
	}
	clamp := func(t time.Time) time.Time {
		t = t.Add(time.Second) // margin for clock skew
		if t.Before(now.Add(time.Second)) {
			return now.Add(time.Second)
		}
		if t.After(now.Add(maxRateLimitWait)) {
			return now.Add(maxRateLimitWait)
		}
		return t
	}
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if secs, err := strconv.ParseInt(ra, 10, 64); err == nil && secs >= 0 {
			secs = min(secs, int64(maxRateLimitWait/time.Second))
			return clamp(now.Add(time.Duration(secs) * time.Second)), true
		}
		if t, err := http.ParseTime(ra); err == nil {
			return clamp(t), true
		}
	}
	if strings.TrimSpace(h.Get("X-RateLimit-Remaining")) == "0" {
		reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
		if err != nil || reset < 0 || reset > now.Add(maxRateLimitWait).Unix()+1 {
			return clamp(now.Add(time.Minute)), true
		}
		return clamp(time.Unix(reset, 0)), true
	}
	if status == http.StatusTooManyRequests {
		return clamp(now.Add(time.Minute)), true
	}
	return time.Time{}, false
}

// githubMessage extracts the "message" of a GitHub error body, made safe
// for a log line.
func githubMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return ""
	}
	m := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, e.Message)
	if r := []rune(m); len(r) > 200 {
		m = string(r[:200]) + "…"
	}
	return m
}

// errNoRelease is returned when the repository has no published release.
var errNoRelease = errors.New("404: no published release, or the repository does not exist or is private (set Token)")
