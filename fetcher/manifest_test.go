package fetcher

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/manifest"
)

// fleetRelease publishes signed manifests and assets on a testServer.
type fleetRelease struct {
	t    *testing.T
	srv  *testServer
	pub  string
	priv minisign.PrivateKey
	tick int64
	etag int
}

func newFleetRelease(t *testing.T) *fleetRelease {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := pub.MarshalText()
	return &fleetRelease{t: t, srv: newTestServer(t), pub: string(text), priv: priv, tick: time.Now().Unix() - 1000}
}

// publish puts body as an asset at path and returns its manifest entry.
func (f *fleetRelease) asset(path string, body []byte) manifest.Asset {
	f.etag++
	f.srv.put(path, &testFile{body: body, etag: fmt.Sprintf(`"a%d"`, f.etag)})
	f.srv.put(path+".minisig", &testFile{body: manifest.Sign(f.priv, body, "", time.Now())})
	sum := sha256.Sum256(body)
	return manifest.Asset{Name: strings.TrimPrefix(path, "/rel/"), Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
}

// manifest signs m (one second later than the previous one) and publishes
// it at /rel/manifest.json; edit may change the signed bytes afterwards.
func (f *fleetRelease) manifest(m *manifest.Manifest, edit func([]byte) []byte) {
	data, err := m.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	f.tick++
	sig := manifest.Sign(f.priv, data, "manifest.json", time.Unix(f.tick, 0))
	if edit != nil {
		data = edit(data)
	}
	f.etag++
	f.srv.put("/rel/manifest.json.minisig", &testFile{body: sig})
	f.srv.put("/rel/manifest.json", &testFile{body: data, etag: fmt.Sprintf(`"m%d"`, f.etag)})
}

// host returns a Manifest fetcher for a host with identity id.
func (f *fleetRelease) host(id string, decisions *[]Decision) *Manifest {
	var mu sync.Mutex
	m := &Manifest{
		Source:    &HTTP{URL: f.srv.URL + "/rel/manifest.json", Interval: 10 * time.Millisecond},
		PublicKey: f.pub,
		HostID:    id,
		HostName:  id,
		Platform:  "linux/amd64",
		Running:   strings.Repeat("0", 64),
		StateFile: filepath.Join(f.t.TempDir(), ".app.overseer-state"),
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

func releaseOf(version string, percent float64, a manifest.Asset) *manifest.Manifest {
	return &manifest.Manifest{
		Format: manifest.Format, Version: version, Expires: time.Now().Add(time.Hour),
		Rollout: &manifest.Rollout{Percent: percent},
		Assets:  map[string]manifest.Asset{"linux/amd64": a},
	}
}

// fetchAll runs one Fetch and reads what it returns, as the master does.
func fetchAsset(t *testing.T, m *Manifest) ([]byte, error) {
	t.Helper()
	r, err := m.Fetch()
	if err != nil || r == nil {
		return nil, err
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	if cs, ok := r.(Checksummed); !ok {
		t.Fatal("the asset reader does not implement Checksummed")
	} else if sum, _ := cs.SHA256(); len(sum) != 64 {
		t.Fatalf("SHA256() = %q", sum)
	}
	if s, ok := r.(Signed); !ok {
		t.Fatal("the asset reader does not implement Signed")
	} else if sig, err := s.Signature(); err != nil || sig == nil {
		t.Fatalf("Signature() = %q, %v", sig, err)
	}
	return io.ReadAll(r)
}

// assetGets counts downloads of path in the server's log.
func (s *testServer) gets(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.log {
		if strings.HasPrefix(l, "GET "+path+" ") {
			n++
		}
	}
	return n
}

func TestManifestRefusals(t *testing.T) {
	f := newFleetRelease(t)
	bin := []byte("release two binary")
	a := f.asset("/rel/app_linux_amd64/app", bin)
	inside, outside := "", ""
	for i := 0; inside == "" || outside == ""; i++ {
		id := fmt.Sprintf("host-%d", i)
		if manifest.Point(id, "v2") < 30 {
			inside = id
		} else {
			outside = id
		}
	}
	tests := []struct {
		name    string
		id      string
		publish func()
		state   string
		want    error
	}{
		{"outside the rollout", outside, func() { f.manifest(releaseOf("v2", 30, a), nil) }, "", manifest.ErrOutsideRollout},
		{"expired", inside, func() {
			m := releaseOf("v2", 30, a)
			m.Expires = time.Now().Add(-time.Second)
			f.manifest(m, nil)
		}, "", manifest.ErrExpired},
		{"tampered", outside, func() {
			f.manifest(releaseOf("v2", 30, a), func(b []byte) []byte {
				return []byte(strings.Replace(string(b), `"percent": 30`, `"percent": 100`, 1))
			})
		}, "", manifest.ErrTampered},
		{"older than accepted", inside, func() { f.manifest(releaseOf("v2", 30, a), nil) },
			`{"version":1,"newest_signed":"2100-01-01T00:00:00Z"}`, manifest.ErrNotNewer},
		{"rolled back here", inside, func() { f.manifest(releaseOf("v2", 30, a), nil) },
			`{"version":1,"quarantined":{"` + a.SHA256 + `":{"why":"probation failed"}}}`, manifest.ErrQuarantined},
		{"other platform", inside, func() {
			m := releaseOf("v2", 30, a)
			m.Assets = map[string]manifest.Asset{"darwin/arm64": a}
			f.manifest(m, nil)
		}, "", manifest.ErrPlatform},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ds []Decision
			tc.publish()
			h := f.host(tc.id, &ds)
			if tc.state != "" {
				if err := os.WriteFile(h.StateFile, []byte(tc.state), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := f.srv.gets("/rel/app_linux_amd64/app")
			body, err := fetchAsset(t, h)
			if err != nil || body != nil {
				t.Fatalf("Fetch = %q, %v; want nothing", body, err)
			}
			if len(ds) != 1 || !errors.Is(ds[0].Err, tc.want) {
				t.Fatalf("decisions %+v, want one refusal with %v", ds, tc.want)
			}
			if n := f.srv.gets("/rel/app_linux_amd64/app") - before; n != 0 {
				t.Fatalf("a refused host downloaded the asset %d times", n)
			}
			// A manifest that does not verify is read again, with its
			// signature, until it has failed unverifiedRetries times.
			reads := 1
			if tc.want == manifest.ErrTampered {
				reads = unverifiedRetries
			}
			for i := 1; i < reads; i++ {
				if body, err := fetchAsset(t, h); err != nil || body != nil || len(ds) != i+1 || !errors.Is(ds[i].Err, tc.want) {
					t.Fatalf("read %d: Fetch = %q, %v, decisions %+v", i+1, body, err, ds)
				}
			}
			// Then the unchanged manifest costs one bodiless request.
			f.srv.counts()
			if body, err := fetchAsset(t, h); err != nil || body != nil || len(ds) != reads {
				t.Fatalf("Fetch after %d reads = %q, %v, %d decisions", reads, body, err, len(ds))
			}
			if req, body := f.srv.counts(); req != 1 || body != 0 {
				t.Errorf("poll of the unchanged refused manifest: %d requests, %d body bytes; want 1 and 0", req, body)
			}
		})
	}
}

func TestManifestWidenAndHalt(t *testing.T) {
	f := newFleetRelease(t)
	v2 := f.asset("/rel/v2/app", []byte("binary of v2"))
	var ds []Decision
	// Find a host outside 10% and inside 50%.
	id := ""
	for i := 0; id == ""; i++ {
		if p := manifest.Point(fmt.Sprintf("h%d", i), "v2"); p >= 10 && p < 50 {
			id = fmt.Sprintf("h%d", i)
		}
	}
	h := f.host(id, &ds)
	f.manifest(releaseOf("v2", 10, v2), nil)
	if body, err := fetchAsset(t, h); err != nil || body != nil {
		t.Fatalf("at 10%%: %q, %v", body, err)
	}
	f.manifest(releaseOf("v2", 50, v2), nil)
	body, err := fetchAsset(t, h)
	if err != nil || string(body) != "binary of v2" {
		t.Fatalf("at 50%%: %q, %v", body, err)
	}
	if last := ds[len(ds)-1]; !last.Downloaded || last.Err != nil {
		t.Fatalf("last decision %+v", last)
	}
	// The master installs it; the host now runs v2 and re-reading the
	// same manifest, or a wider one, does nothing.
	h.Running = v2.SHA256
	f.manifest(releaseOf("v2", 100, v2), nil)
	if body, err := fetchAsset(t, h); err != nil || body != nil || !errors.Is(ds[len(ds)-1].Err, manifest.ErrUpToDate) {
		t.Fatalf("at 100%% on v2: %q, %v, %+v", body, err, ds[len(ds)-1])
	}
	// Halting: the previous release, signed again, is newer and applies.
	v1 := f.asset("/rel/v1/app", []byte("binary of v1"))
	f.manifest(releaseOf("v1", 100, v1), nil)
	if body, err := fetchAsset(t, h); err != nil || string(body) != "binary of v1" {
		t.Fatalf("halt to v1: %q, %v", body, err)
	}
}

func TestManifestAssetMismatchAndRetry(t *testing.T) {
	f := newFleetRelease(t)
	a := f.asset("/rel/app", []byte("0123456789"))
	var ds []Decision
	h := f.host("any", &ds)

	// A download cut off is retried at the next poll, manifest unchanged.
	f.srv.hook("/rel/app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("01234"))
	})
	f.manifest(releaseOf("v2", 100, a), nil)
	if body, err := fetchAsset(t, h); err == nil {
		t.Fatalf("cut download = %q, want an error", body)
	}
	f.srv.hook("/rel/app", nil)
	if body, err := fetchAsset(t, h); err != nil || string(body) != "0123456789" {
		t.Fatalf("retry = %q, %v", body, err)
	}

	// An asset larger than the manifest says fails with ErrMismatch and
	// is not fetched again.
	a3 := a
	f.asset("/rel/app", []byte("0123456789 and more"))
	a3.Size = 10
	f.manifest(releaseOf("v3", 100, a3), nil)
	if _, err := fetchAsset(t, h); !errors.Is(err, manifest.ErrMismatch) {
		t.Fatalf("oversized asset: %v, want ErrMismatch", err)
	}
	n := f.srv.gets("/rel/app")
	if body, err := fetchAsset(t, h); err != nil || body != nil {
		t.Fatalf("after a mismatch: %q, %v", body, err)
	}
	if f.srv.gets("/rel/app") != n {
		t.Fatal("a mismatching asset was downloaded again")
	}
}

func TestManifestFileSource(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := minisign.GenerateKey(rand.Reader)
	text, _ := pub.MarshalText()
	path := filepath.Join(dir, "manifest.json")
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := &Manifest{Source: &File{Path: path}, PublicKey: string(text), HostID: "x", Running: "none", StateFile: os.DevNull}
	if err := m.Init(); err != nil {
		t.Fatal(err)
	}
	bin := []byte("file binary")
	write("app", bin)
	write("app.minisig", manifest.Sign(priv, bin, "", time.Now()))
	sum := sha256.Sum256(bin)
	data, _ := releaseOf("v9", 100, manifest.Asset{Name: "app", Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:])}).Marshal()
	write("manifest.json.minisig", manifest.Sign(priv, data, "", time.Now()))
	write("manifest.json", data)
	var got []byte
	for i := 0; i < 5 && got == nil; i++ {
		r, err := m.Fetch()
		if err != nil {
			t.Fatal(err)
		}
		if r != nil {
			got, _ = io.ReadAll(r)
		}
	}
	if string(got) != string(bin) {
		t.Fatalf("File source gave %q", got)
	}
}

// TestManifestAssetNotDownloadedBeforeItsSignature: the master reads the
// asset's signature before the binary, and may refuse it there; the
// binary is not requested until the master reads it.
func TestManifestAssetNotDownloadedBeforeItsSignature(t *testing.T) {
	f := newFleetRelease(t)
	a := f.asset("/rel/app", []byte("0123456789"))
	var ds []Decision
	h := f.host("any", &ds)
	f.manifest(releaseOf("v2", 100, a), nil)
	r, err := h.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch = %v, %v", r, err)
	}
	if _, err := r.(Signed).Signature(); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.gets("/rel/app"); n != 0 {
		t.Fatalf("the binary was requested %d times before it was read", n)
	}
	r.(io.Closer).Close() // refused by the master, say
	if n := f.srv.gets("/rel/app"); n != 0 {
		t.Fatalf("the binary was requested %d times though never read", n)
	}
}
