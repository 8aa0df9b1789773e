package fetcher

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ghFake is a local server speaking the subset of the GitHub releases API
// that Github uses: the latest release with ETags, and assets served
// through their API address with a redirect to the storage host.
type ghFake struct {
	*testServer
	mu      sync.Mutex
	release []byte
	etag    string
	limited http.Header // when set, the API answers 403 with these headers
	token   string      // when set, required as the bearer token
	nextID  int
	// uploads remembers each release's id (by tag) and each asset's id
	// and upload time (by tag/name/content), so publishing a tag again
	// adds to the same release and leaves unchanged assets unchanged.
	uploads map[string]ghFakeUpload
}

// ghFakeUpload is one release or asset as the fake published it.
type ghFakeUpload struct {
	id      int
	updated string
}

func newGithubFake(t *testing.T) *ghFake {
	f := &ghFake{testServer: newTestServer(t), uploads: map[string]ghFakeUpload{}}
	f.hook("/api/v3/repos/owner/repo/releases/latest", f.serveRelease)
	return f
}

func (f *ghFake) serveRelease(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	release, etag, limited, token := f.release, f.etag, f.limited, f.token
	f.mu.Unlock()
	if limited != nil {
		for k, v := range limited {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"API rate limit exceeded for 127.0.0.1."}`)
		return
	}
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	if release == nil {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("Accept") != "application/vnd.github+json" {
		http.Error(w, "wrong Accept", http.StatusUnsupportedMediaType)
		return
	}
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(release)
}

// upload returns the id and upload time of key, new unless key was
// uploaded before.
func (f *ghFake) upload(key string) ghFakeUpload {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.uploads[key]
	if !ok {
		f.nextID++
		u = ghFakeUpload{id: f.nextID, updated: time.Now().UTC().Format(time.RFC3339Nano)}
		f.uploads[key] = u
	}
	return u
}

// publish makes a release with the given assets the latest one; a tag
// published before is the same release (same id), with these assets.
// The release is also served by its id. extra changes the metadata
// without changing the assets (like a download counter).
func (f *ghFake) publish(tag string, assets map[string][]byte, extra int) {
	names := make([]string, 0, len(assets))
	for name := range assets {
		names = append(names, name)
	}
	sort.Strings(names)
	type asset struct {
		ID            int    `json:"id"`
		Name          string `json:"name"`
		URL           string `json:"url"`
		BrowserURL    string `json:"browser_download_url"`
		Size          int    `json:"size"`
		UpdatedAt     string `json:"updated_at"`
		State         string `json:"state"`
		DownloadCount int    `json:"download_count"`
	}
	rel := struct {
		ID      int     `json:"id"`
		TagName string  `json:"tag_name"`
		Assets  []asset `json:"assets"`
	}{ID: f.upload("release " + tag).id, TagName: tag}
	for _, name := range names {
		sum := sha256.Sum256(assets[name])
		up := f.upload(tag + "/" + name + "/" + hex.EncodeToString(sum[:]))
		id := up.id
		f.mu.Lock()
		token := f.token
		f.mu.Unlock()
		api := fmt.Sprintf("/api/v3/repos/owner/repo/releases/assets/%d", id)
		dl := "/download/" + tag + "/" + name
		f.put(dl, &testFile{body: assets[name], etag: strconv.Quote(name + tag)})
		f.hook(api, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept") != "application/octet-stream" {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"name":"metadata instead of content"}`)
				return
			}
			if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
				return
			}
			w.Header().Set("Location", dl) // like GitHub: no body
			w.WriteHeader(http.StatusFound)
		})
		rel.Assets = append(rel.Assets, asset{
			ID: id, Name: name, URL: f.URL + api, BrowserURL: f.URL + dl, Size: len(assets[name]),
			UpdatedAt: up.updated, State: "uploaded", DownloadCount: extra,
		})
	}
	b, _ := json.Marshal(rel)
	f.hook(fmt.Sprintf("/api/v3/repos/owner/repo/releases/%d", rel.ID), func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		token := f.token
		f.mu.Unlock()
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	sum := sha256.Sum256(b)
	f.mu.Lock()
	f.release, f.etag = b, `"`+hex.EncodeToString(sum[:8])+`"`
	f.mu.Unlock()
}

// newGithub returns an initialised Github fetcher for f that polls fast.
func newGithub(t *testing.T, f *ghFake) *Github {
	t.Helper()
	g := &Github{User: "owner", Repo: "repo", BaseURL: f.URL + "/api/v3/", Interval: time.Millisecond, Token: "-", Timeout: 2 * time.Second}
	if f.token != "" {
		g.Token = f.token
	}
	if err := g.Init(); err != nil {
		t.Fatal(err)
	}
	return g
}

// platformAsset is a name the default matcher accepts.
var platformAsset = fmt.Sprintf("app_%s_%s", runtime.GOOS, runtime.GOARCH)

// otherAsset is a name the default matcher rejects.
const otherAsset = "app_plan9_mips"

func TestGithubInit(t *testing.T) {
	for _, g := range []*Github{{}, {User: "u"}, {Repo: "r"}, {User: "u", Repo: "r", BaseURL: "ftp://x"}} {
		if err := g.Init(); err == nil {
			t.Errorf("Init(%+v) succeeded", g)
		}
	}
	t.Setenv("GITHUB_TOKEN", "from-env")
	g := &Github{User: "u", Repo: "r"}
	if err := g.Init(); err != nil {
		t.Fatal(err)
	}
	if g.Token != "from-env" || g.BaseURL != DefaultGithubAPI || g.Interval != DefaultInterval ||
		g.releaseURL != "https://api.github.com/repos/u/r/releases/latest" {
		t.Errorf("defaults not applied: %+v", g)
	}
	if !g.Asset(platformAsset+".gz") || g.Asset(otherAsset) {
		t.Error("default Asset matcher")
	}
	if _, err := (&Github{}).Fetch(); err == nil {
		t.Error("Fetch before Init succeeded")
	}
}

// TestGithubUnchangedCostsNoBody: polling an unchanged release costs one
// request answered 304, with no body; new metadata with the same asset
// (download counters) is not an update.
func TestGithubUnchangedCostsNoBody(t *testing.T) {
	f := newGithubFake(t)
	v1 := randomBytes(50 << 10)
	f.publish("v1", map[string][]byte{platformAsset: v1, otherAsset: randomBytes(10)}, 0)
	g := newGithub(t, f)
	mustFetch(t, g, v1)
	f.counts()
	for i := 0; i < 3; i++ {
		mustNotChange(t, g)
		if n, b := f.counts(); n != 1 || b != 0 {
			t.Fatalf("poll %d: %d requests, %d body bytes; want 1, 0", i, n, b)
		}
	}
	// Same assets, new metadata: one release request, no download, and the
	// new ETag is remembered.
	f.mu.Lock()
	f.release = bytes.Replace(f.release, []byte(`"download_count":0`), []byte(`"download_count":7`), 1)
	f.etag = `"counted"`
	f.mu.Unlock()
	mustNotChange(t, g)
	mustNotChange(t, g)
	if n, _ := f.counts(); n != 2 {
		t.Fatalf("%d requests for two polls", n)
	}

	v2 := randomBytes(1000)
	f.publish("v2", map[string][]byte{platformAsset: v2}, 0)
	mustFetch(t, g, v2)
	mustNotChange(t, g)
}

// TestGithubLazyDownload: nothing is downloaded before the first Read, so
// the signature can be checked first.
func TestGithubLazyDownload(t *testing.T) {
	f := newGithubFake(t)
	bin := randomBytes(10000)
	sig := testMinisig()
	f.publish("v1", map[string][]byte{platformAsset: bin, platformAsset + ".minisig": sig}, 0)
	g := newGithub(t, f)
	r, err := g.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch = %v, %v", r, err)
	}
	defer r.(io.Closer).Close()
	if n, b := f.counts(); n != 1 || b != int64(len(f.release)) {
		t.Fatalf("Fetch cost %d requests, %d bytes; want only the release", n, b)
	}
	got, err := r.(Signed).Signature()
	if err != nil || !bytes.Equal(got, sig) {
		t.Fatalf("Signature = %q, %v", got, err)
	}
	if _, b := f.counts(); b != int64(len(sig)) {
		t.Fatalf("Signature downloaded %d bytes, want %d", b, len(sig))
	}
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, bin) {
		t.Fatalf("read %d bytes, %v", len(all), err)
	}
}

func TestGithubSignature(t *testing.T) {
	f := newGithubFake(t)
	f.publish("v1", map[string][]byte{platformAsset: []byte("bin")}, 0)
	r, err := newGithub(t, f).Fetch()
	if err != nil {
		t.Fatal(err)
	}
	if sig, err := r.(Signed).Signature(); sig != nil || err != nil {
		t.Errorf("no signature: %q, %v", sig, err)
	}
	f.publish("v2", map[string][]byte{platformAsset: []byte("bin"), platformAsset + ".minisig": []byte("garbage")}, 0)
	r, err = newGithub(t, f).Fetch()
	if err != nil {
		t.Fatal(err)
	}
	if sig, err := r.(Signed).Signature(); sig != nil || err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("malformed signature: %q, %v", sig, err)
	}
}

func TestGithubChecksums(t *testing.T) {
	bin := bytes.Repeat([]byte("binary "), 1000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bin)
	zw.Close()
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	gzName := platformAsset + ".gz"

	cases := []struct {
		name      string
		assets    map[string][]byte
		wantSum   string
		sumErr    string
		readErr   string
		checksums string
	}{
		{name: "no checksums file", assets: map[string][]byte{platformAsset: bin}},
		{
			name:      "plain asset",
			assets:    map[string][]byte{platformAsset: bin},
			checksums: sum(bin) + "  " + platformAsset + "\n" + sum(nil) + "  other\n",
			wantSum:   sum(bin),
		},
		{
			name:      "gz asset, compressed digest only",
			assets:    map[string][]byte{gzName: gz.Bytes()},
			checksums: sum(gz.Bytes()) + " *" + gzName + "\n",
		},
		{
			name:      "gz asset, both digests",
			assets:    map[string][]byte{gzName: gz.Bytes()},
			checksums: sum(gz.Bytes()) + "  " + gzName + "\n" + sum(bin) + "  " + platformAsset + "\n",
			wantSum:   sum(bin),
		},
		{
			name:      "mismatch",
			assets:    map[string][]byte{platformAsset: bin},
			checksums: sum([]byte("other")) + "  " + platformAsset + "\n",
			wantSum:   sum([]byte("other")),
			readErr:   "SHA-256 mismatch",
		},
		{
			name:      "gz mismatch",
			assets:    map[string][]byte{gzName: gz.Bytes()},
			checksums: sum(bin) + "  " + gzName + "\n",
			readErr:   "SHA-256 mismatch",
		},
		{
			name:      "not listed",
			assets:    map[string][]byte{platformAsset: bin},
			checksums: sum(bin) + "  something_else\n",
			sumErr:    "lists no digest",
			readErr:   "lists no digest",
		},
		{
			name:      "garbage",
			assets:    map[string][]byte{platformAsset: bin},
			checksums: "<html>oops</html>",
			sumErr:    "no SHA-256 entries",
			readErr:   "no SHA-256 entries",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newGithubFake(t)
			if c.checksums != "" {
				c.assets["myapp_1.0.0_checksums.txt"] = []byte(c.checksums)
			}
			f.publish("v1", c.assets, 0)
			r, err := newGithub(t, f).Fetch()
			if err != nil {
				t.Fatal(err)
			}
			defer r.(io.Closer).Close()
			got, err := r.(Checksummed).SHA256()
			if c.sumErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.sumErr) {
					t.Errorf("SHA256 error %v, want %q", err, c.sumErr)
				}
			} else if err != nil || got != c.wantSum {
				t.Errorf("SHA256 = %q, %v; want %q", got, err, c.wantSum)
			}
			b, err := io.ReadAll(r)
			if c.readErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.readErr) {
					t.Errorf("read error %v, want %q", err, c.readErr)
				}
				return
			}
			if err != nil || !bytes.Equal(b, bin) {
				t.Errorf("read %d bytes, %v", len(b), err)
			}
		})
	}
}

// TestGithubRateLimited: a 403 with X-RateLimit-Remaining: 0 makes the next
// poll wait until X-RateLimit-Reset, and is logged.
func TestGithubRateLimited(t *testing.T) {
	f := newGithubFake(t)
	f.publish("v1", map[string][]byte{platformAsset: []byte("bin")}, 0)
	reset := time.Now().Add(20 * time.Minute).Truncate(time.Second)
	f.limited = http.Header{
		"X-Ratelimit-Limit":     {"60"},
		"X-Ratelimit-Remaining": {"0"},
		"X-Ratelimit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
	}
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))

	g := newGithub(t, f)
	var slept []time.Duration
	g.pacer.Sleep = func(d time.Duration) { slept = append(slept, d) }
	err := fetchErr(t, g, "rate limited until")
	if !strings.Contains(err.Error(), "API rate limit exceeded") || !errors.Is(err, errRateLimited) {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(logs.String(), "rate limited by GitHub") {
		t.Errorf("no log line for the rate limit: %q", logs.String())
	}
	f.mu.Lock()
	f.limited = nil
	f.mu.Unlock()
	mustFetch(t, g, []byte("bin"))
	if len(slept) != 1 || slept[0] < 19*time.Minute || slept[0] > 21*time.Minute {
		t.Fatalf("slept %v before the next poll, want about 20m", slept)
	}

	// Retry-After (secondary rate limits) on a 429.
	f.limited = http.Header{"Retry-After": {"90"}}
	g = newGithub(t, f)
	slept = nil
	g.pacer.Sleep = func(d time.Duration) { slept = append(slept, d) }
	fetchErr(t, g, "rate limited")
	f.mu.Lock()
	f.limited = nil
	f.mu.Unlock()
	mustFetch(t, g, []byte("bin"))
	if len(slept) != 1 || slept[0] < 85*time.Second || slept[0] > 95*time.Second {
		t.Fatalf("slept %v, want about 90s", slept)
	}
}

func TestGithubNoMatchingAsset(t *testing.T) {
	f := newGithubFake(t)
	f.publish("v3", map[string][]byte{otherAsset: []byte("x"), platformAsset + ".minisig": testMinisig(), "checksums.txt": []byte("x")}, 0)
	err := fetchErr(t, newGithub(t, f), `release "v3" has no matching asset`)
	if !strings.Contains(err.Error(), otherAsset) {
		t.Errorf("error does not list the assets: %v", err)
	}
}

func TestGithubErrors(t *testing.T) {
	f := newGithubFake(t)
	g := newGithub(t, f)
	fetchErr(t, g, "no published release")

	f.mu.Lock()
	f.release, f.etag = []byte(`{"tag_name": "v1", "assets": [`), `"broken"`
	f.mu.Unlock()
	fetchErr(t, g, "decode release")

	// A private repository needs the token, for the release and the asset.
	f.token = "s3cret"
	f.publish("v1", map[string][]byte{platformAsset: []byte("bin")}, 0)
	fetchErr(t, g, "no published release")
	mustFetch(t, newGithub(t, f), []byte("bin"))

	// A download that fails with the release intact.
	f.hook("/download/v1/"+platformAsset, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusInternalServerError)
	})
	fetchErr(t, newGithub(t, f), "fetcher.Github: owner/repo: download v1 "+platformAsset+": unexpected status \"500")
}

// TestGithubAssetTooLarge: the size announced in the release is checked
// before downloading.
func TestGithubAssetTooLarge(t *testing.T) {
	f := newGithubFake(t)
	f.publish("v1", map[string][]byte{platformAsset: randomBytes(5000)}, 0)
	g := newGithub(t, f)
	g.MaxSize = 1000
	fetchErr(t, g, "size limit")
}
