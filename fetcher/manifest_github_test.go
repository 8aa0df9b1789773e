package fetcher

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/manifest"
)

// ghFleet publishes signed manifests with name-only assets as GitHub
// releases on a ghFake, as overseer-release and "gh release create" do.
type ghFleet struct {
	t    *testing.T
	gh   *ghFake
	pub  minisign.PublicKey
	priv minisign.PrivateKey
	tick int64
	// assets are the files of each release, by tag.
	assets map[string]map[string][]byte
}

// ghBinary is the release asset every test host takes.
const ghBinary = "app_linux_amd64"

func newGhFleet(t *testing.T) *ghFleet {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &ghFleet{t: t, gh: newGithubFake(t), pub: pub, priv: priv, tick: time.Now().Unix() - 1000, assets: map[string]map[string][]byte{}}
	f.gh.token = "gh-s3cret" // a private repository: every API request needs it
	return f
}

// release publishes tag as the latest release: a manifest for version
// naming bin as ghBinary (signed one second after the previous one; edit
// may change the signed bytes afterwards) and, unless noBinary, bin with
// its signature and a GoReleaser-style checksums.txt that lists the
// binary but not the manifest. It returns the manifest's asset entry.
func (f *ghFleet) release(tag, version string, bin []byte, noBinary bool, edit func([]byte) []byte) manifest.Asset {
	f.t.Helper()
	sum := sha256.Sum256(bin)
	a := manifest.Asset{Name: ghBinary, Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:])}
	data, err := releaseOf(version, 100, a).Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	f.tick++
	assets := map[string][]byte{
		"manifest.json.minisig": manifest.Sign(f.priv, data, "manifest.json", time.Unix(f.tick, 0)),
	}
	if edit != nil {
		data = edit(data)
	}
	assets["manifest.json"] = data
	if !noBinary {
		f.binary(assets, bin)
	}
	f.assets[tag] = assets
	f.gh.publish(tag, assets, 0)
	return a
}

// binary adds bin, its signature and checksums.txt to assets.
func (f *ghFleet) binary(assets map[string][]byte, bin []byte) {
	sum := sha256.Sum256(bin)
	assets[ghBinary] = bin
	assets[ghBinary+".minisig"] = manifest.Sign(f.priv, bin, "", time.Now())
	assets["checksums.txt"] = []byte(hex.EncodeToString(sum[:]) + "  " + ghBinary + "\n")
}

// upload adds bin to the release tag, whose other assets are unchanged,
// and makes it the latest release.
func (f *ghFleet) upload(tag string, bin []byte) {
	f.binary(f.assets[tag], bin)
	f.gh.publish(tag, f.assets[tag], 0)
}

// host returns an initialised Manifest polling the fake's latest release,
// with the default Asset (manifest.json).
func (f *ghFleet) host(decisions *[]Decision) *Manifest {
	f.t.Helper()
	text, _ := f.pub.MarshalText()
	var mu sync.Mutex
	m := &Manifest{
		Source: &Github{
			User: "owner", Repo: "repo", BaseURL: f.gh.URL + "/api/v3",
			Token: f.gh.token, Interval: time.Millisecond, Timeout: 2 * time.Second,
		},
		PublicKey: string(text),
		HostID:    "gh-host",
		Platform:  "linux/amd64",
		Running:   strings.Repeat("0", 64),
		StateFile: os.DevNull,
		OnDecision: func(d Decision) {
			mu.Lock()
			*decisions = append(*decisions, d)
			mu.Unlock()
		},
	}
	if err := m.Init(); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// verifyBinary checks bin against its manifest entry and its signature,
// as the master does.
func (f *ghFleet) verifyBinary(bin, sig []byte, a manifest.Asset) {
	f.t.Helper()
	if int64(len(bin)) != a.Size {
		f.t.Fatalf("downloaded %d bytes, the manifest says %d", len(bin), a.Size)
	}
	if sum := sha256.Sum256(bin); hex.EncodeToString(sum[:]) != a.SHA256 {
		f.t.Fatal("the downloaded binary does not match the manifest's SHA-256")
	}
	r := minisign.NewReader(bytes.NewReader(bin))
	if _, err := io.Copy(io.Discard, r); err != nil {
		f.t.Fatal(err)
	}
	if !r.Verify(f.pub, sig) {
		f.t.Fatal("the binary's signature does not verify")
	}
}

// downloads counts the requests for the binary's content, of any release.
func (f *ghFleet) downloads() int {
	f.gh.counts() // waits for the handlers to finish logging
	f.gh.mu.Lock()
	defer f.gh.mu.Unlock()
	n := 0
	for _, l := range f.gh.log {
		if strings.HasPrefix(l, "GET /download/") && strings.Contains(l, "/"+ghBinary+" ") {
			n++
		}
	}
	return n
}

// TestManifestGithubNamedAsset: a manifest polled from a private GitHub
// release names its binary; the host downloads that asset of the release,
// with the token, through the API address, after its signature, and the
// binary verifies against the manifest and the signature.
func TestManifestGithubNamedAsset(t *testing.T) {
	f := newGhFleet(t)
	bin := randomBytes(20000)
	a := f.release("v2.0.0", "v2", bin, false, nil)
	var ds []Decision
	h := f.host(&ds)

	r, err := h.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch = %v, %v; want the binary", r, err)
	}
	defer r.(io.Closer).Close()
	if sum, err := r.(Checksummed).SHA256(); err != nil || sum != a.SHA256 {
		t.Fatalf("SHA256() = %q, %v; want the manifest's %s", sum, err, a.SHA256)
	}
	sig, err := r.(Signed).Signature()
	if err != nil || sig == nil {
		t.Fatalf("Signature() = %q, %v", sig, err)
	}
	if n := f.downloads(); n != 0 {
		t.Fatalf("the binary was requested %d times before it was read", n)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read the binary: %v", err)
	}
	f.verifyBinary(got, sig, a)
	if last := ds[len(ds)-1]; !last.Downloaded || last.Err != nil || last.Version != "v2" {
		t.Fatalf("last decision %+v", last)
	}
	// The binary came through its API address (which the fake only
	// answers with the token) and the redirect, once.
	f.gh.counts() // waits for the handlers to finish logging
	f.gh.mu.Lock()
	log := strings.Join(f.gh.log, "\n")
	f.gh.mu.Unlock()
	if !strings.Contains(log, "GET /api/v3/repos/owner/repo/releases/assets/") || f.downloads() != 1 {
		t.Fatalf("the binary was not downloaded once through the API:\n%s", log)
	}
	// Unchanged release: nothing more.
	if r, err := h.Fetch(); r != nil || err != nil {
		t.Fatalf("second Fetch = %v, %v", r, err)
	}
}

// TestManifestGithubTokenRequired: without the token, the private
// release is not found; the token goes to the API host.
func TestManifestGithubTokenRequired(t *testing.T) {
	f := newGhFleet(t)
	f.release("v2.0.0", "v2", []byte("binary"), false, nil)
	var ds []Decision
	h := f.host(&ds)
	h.Source.(*Github).Token = "wrong"
	if r, err := h.Fetch(); r != nil || err == nil || !strings.Contains(err.Error(), "no published release") {
		t.Fatalf("Fetch with a wrong token = %v, %v", r, err)
	}
	h.Source.(*Github).Token = f.gh.token
	r, err := h.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch with the token = %v, %v", r, err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "binary" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// TestManifestGithubMissingAsset: a manifest naming an asset its release
// does not have is an error naming the release and the asset, and nothing
// is downloaded; once the asset is uploaded to that same release, the next
// poll takes it.
func TestManifestGithubMissingAsset(t *testing.T) {
	f := newGhFleet(t)
	bin := randomBytes(3000)
	a := f.release("v2.0.0", "v2", bin, true, nil)
	var ds []Decision
	h := f.host(&ds)
	r, err := h.Fetch()
	if r != nil || err == nil {
		t.Fatalf("Fetch = %v, %v; want an error", r, err)
	}
	t.Logf("error: %v", err)
	if want := `release "v2.0.0" has no asset "` + ghBinary + `"`; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if n := f.downloads(); n != 0 {
		t.Fatalf("a missing asset led to %d downloads", n)
	}
	if last := ds[len(ds)-1]; last.Err == nil || last.Downloaded {
		t.Fatalf("last decision %+v", last)
	}
	// Still missing at the next poll: the same error, still no download.
	if r, err := h.Fetch(); r != nil || err == nil || !strings.Contains(err.Error(), "has no asset") {
		t.Fatalf("second Fetch = %v, %v", r, err)
	}

	// The binary is uploaded to the same release; the manifest asset is
	// unchanged, so the poll offers no new manifest, and the pending one
	// finds its binary in a fresh copy of its release.
	f.upload("v2.0.0", bin)
	r, err = h.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch after the upload = %v, %v", r, err)
	}
	sig, err := r.(Signed).Signature()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	f.verifyBinary(got, sig, a)
}

// TestManifestGithubSameRelease: the binary comes from the release the
// manifest was read from, even when another release becomes the latest
// before the download, or before a retry of it.
func TestManifestGithubSameRelease(t *testing.T) {
	f := newGhFleet(t)
	bin1, bin2 := []byte("binary of v1 "+strings.Repeat("1", 5000)), []byte("binary of v2")
	a1 := f.release("v1.0.0", "v1", bin1, false, nil)
	var ds []Decision
	h := f.host(&ds)
	r, err := h.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch = %v, %v", r, err)
	}
	// v2 is published between the poll and the download, with an asset
	// of the same name.
	f.release("v2.0.0", "v2", bin2, false, nil)
	sig, err := r.(Signed).Signature()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f.verifyBinary(got, sig, a1)

	// A retry of a cut-off download, after a new latest release whose
	// manifest is refused, still takes the binary of the accepted
	// manifest's release.
	f2 := newGhFleet(t)
	a1 = f2.release("v1.0.0", "v1", bin1, false, nil)
	h = f2.host(&ds)
	cut := "/download/v1.0.0/" + ghBinary
	f2.gh.hook(cut, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(bin1)))
		w.Write(bin1[:100])
	})
	if r, err = h.Fetch(); err != nil || r == nil {
		t.Fatalf("Fetch = %v, %v", r, err)
	}
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("a cut-off download succeeded")
	}
	f2.gh.hook(cut, nil)
	f2.release("v2.0.0", "v2", bin2, false, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"v2"`), []byte(`"v9"`), 1) // tampered
	})
	// The poll that reads (and refuses) the tampered manifest retries the
	// cut-off download.
	r, err = h.Fetch()
	if err != nil || r == nil {
		t.Fatalf("retry Fetch = %v, %v", r, err)
	}
	if last := ds[len(ds)-2]; !errors.Is(last.Err, manifest.ErrTampered) {
		t.Fatalf("the tampered manifest was not refused: decisions %+v", ds)
	}
	sig, err = r.(Signed).Signature()
	if err != nil {
		t.Fatal(err)
	}
	if got, err = io.ReadAll(r); err != nil {
		t.Fatalf("retry read: %v", err)
	}
	f2.verifyBinary(got, sig, a1)
}

// TestManifestGithubAssetTooLarge: the Github fetcher's MaxSize applies to
// a named asset, before anything is downloaded.
func TestManifestGithubAssetTooLarge(t *testing.T) {
	f := newGhFleet(t)
	f.release("v2.0.0", "v2", randomBytes(5000), false, nil)
	var ds []Decision
	h := f.host(&ds)
	h.Source.(*Github).MaxSize = 4000
	r, err := h.Fetch()
	if r != nil || err == nil || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), ghBinary) {
		t.Fatalf("Fetch = %v, %v; want ErrTooLarge for %s", r, err, ghBinary)
	}
	if n := f.downloads(); n != 0 {
		t.Fatalf("a binary over MaxSize was requested %d times", n)
	}
}
