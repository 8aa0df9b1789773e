package overseer_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/manifest"
)

// fleetStore is a release store on a real HTTP server: signed manifests
// and binaries in a directory, as overseer-release lays them out.
type fleetStore struct {
	t    *testing.T
	dir  string
	url  string
	key  minisignKey
	priv minisign.PrivateKey
	next time.Time // the signing time of the last publication
	// assetAt is the signing time of the last asset: each asset is signed a
	// second after the one before, and all before the manifests, as a
	// publisher does (binaries first, then the manifest that names them).
	assetAt time.Time
	stamp   time.Time // the modification time of the last manifest
}

func newFleetStore(t *testing.T) *fleetStore {
	key := newMinisignKey(t)
	raw, err := os.ReadFile(key.secret)
	if err != nil {
		t.Fatal(err)
	}
	var priv minisign.PrivateKey
	if err := priv.UnmarshalText(raw); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return &fleetStore{t: t, dir: dir, url: srv.URL + "/manifest.json", key: key, priv: priv, next: time.Now().Add(-time.Hour), stamp: time.Now().Add(-time.Hour), assetAt: time.Now().Add(-2 * time.Hour)}
}

// asset publishes a variant's binary, signed, and returns its entry.
func (f *fleetStore) asset(variant string) manifest.Asset {
	b, err := os.ReadFile(filepath.Join(binDir, variant))
	if err != nil {
		f.t.Fatal(err)
	}
	name := variant + "/app"
	if err := os.MkdirAll(filepath.Join(f.dir, variant), 0o755); err != nil {
		f.t.Fatal(err)
	}
	f.assetAt = f.assetAt.Add(time.Second)
	f.write(name+".minisig", manifest.Sign(f.priv, b, "app", f.assetAt))
	f.write(name, b)
	sum := sha256.Sum256(b)
	return manifest.Asset{Name: name, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}

// publish signs m at the next signing time (or at, if set) and publishes
// it; tamper, if set, edits the bytes after signing.
func (f *fleetStore) publish(m *manifest.Manifest, at time.Time, tamper func(string) string) {
	data, err := m.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	if at.IsZero() {
		f.next = f.next.Add(time.Minute)
		at = f.next
	}
	sig := manifest.Sign(f.priv, data, "manifest.json", at)
	if tamper != nil {
		data = []byte(tamper(string(data)))
	}
	f.write("manifest.json.minisig", sig)
	f.write("manifest.json", data)
	// http.FileServer's Last-Modified has a resolution of a second: give
	// each publication its own, or a poll within the same second gets a
	// 304 for a manifest it has not seen.
	f.stamp = f.stamp.Add(time.Minute)
	if err := os.Chtimes(filepath.Join(f.dir, "manifest.json"), f.stamp, f.stamp); err != nil {
		f.t.Fatal(err)
	}
}

// write replaces a file of the store atomically.
func (f *fleetStore) write(name string, b []byte) {
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		f.t.Fatal(err)
	}
}

// release is a manifest of version at percent with one asset for this
// platform.
func release(version string, percent float64, a manifest.Asset) *manifest.Manifest {
	return &manifest.Manifest{
		Format: manifest.Format, Version: version, Expires: time.Now().Add(time.Hour),
		Rollout: &manifest.Rollout{Percent: percent},
		Assets:  map[string]manifest.Asset{platformKey(): a},
	}
}

// keepGetting requests / every 50 ms until the test ends and counts the
// failures.
func keepGetting(t *testing.T, s *service) *atomic.Int64 {
	var failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := s.get("/"); err != nil {
				failed.Add(1)
				t.Logf("request failed: %v", err)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return &failed
}

// TestFleetManifestRefusalsKeepServing: every refused manifest (expired,
// outside the rollout, tampered, wrong hash for this platform, older than
// what was accepted) leaves the service serving v1 from an unchanged
// binary, with a log line that says why; widening the rollout from 0% to
// 100% then upgrades it.
func TestFleetManifestRefusalsKeepServing(t *testing.T) {
	f := newFleetStore(t)
	v2 := f.asset("v2")
	// v3's bytes under a digest that is not theirs. (The master
	// quarantines the binary that fails its checksum, so this must not be
	// the v2 that is rolled out later.)
	wrong := f.asset("v3")
	wrong.SHA256 = strings.Repeat("e", 64)

	expired := release("v2", 100, v2)
	expired.Expires = time.Now().Add(-time.Minute)
	f.publish(expired, time.Time{}, nil)

	s := startService(t, options{env: []string{"APP_MANIFEST_URL=" + f.url, "APP_PUBLIC_KEY=" + f.key.public, "APP_HOST_ID=fleet-test-host"}})
	failed := keepGetting(t, s)
	v1 := fileHash(t, s.bin)
	stillV1 := func(step string) {
		t.Helper()
		if r := s.mustGet("/"); r.version != "v1" {
			t.Fatalf("%s: serving %s", step, r.version)
		}
		if fileHash(t, s.bin) != v1 {
			t.Fatalf("%s: the binary on disk changed", step)
		}
	}
	s.waitLog("manifest refused: it has EXPIRED", 20*time.Second)
	stillV1("expired")

	f.publish(release("v2", 0, v2), time.Time{}, nil)
	s.waitLog("not in the release's rollout", 20*time.Second)
	stillV1("0%")

	f.publish(release("v2", 0, v2), time.Time{}, func(s string) string {
		return strings.Replace(s, `"percent": 0`, `"percent": 100`, 1)
	})
	s.waitLog("manifest refused: it does not verify", 20*time.Second)
	stillV1("tampered")

	f.publish(release("v2", 100, wrong), time.Time{}, nil)
	s.waitLog("does not match the published checksum", 20*time.Second)
	stillV1("wrong hash")

	f.publish(release("v2", 100, v2), f.next.Add(-30*time.Minute), nil)
	s.waitLog("manifest is not newer", 20*time.Second)
	stillV1("older")

	f.publish(release("v2", 0, v2), time.Time{}, nil)
	time.Sleep(time.Second) // several polls at 0%
	stillV1("0% again")
	f.publish(release("v2", 100, v2), time.Time{}, nil)
	s.waitServing("v2", 30*time.Second)
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed while the manifests changed", n)
	}
	if n := strings.Count(s.log(), "fetcher.Manifest: taking release"); n != 2 {
		t.Errorf("%d releases taken, want 2 (the wrong-hash one, refused by the master, and v2)", n)
	}
}

// platformKey is this platform's key in a manifest's assets.
func platformKey() string { return runtime.GOOS + "/" + runtime.GOARCH }

// TestFleetRolledBackReleaseIsNotTakenAgain: a release taken through the
// manifest that crashes during probation is rolled back, and the same
// manifest, re-signed and widened, does not bring it back: the host
// refuses it from the master's quarantine without downloading it.
func TestFleetRolledBackReleaseIsNotTakenAgain(t *testing.T) {
	f := newFleetStore(t)
	bad := f.asset("crashlater")
	s := startService(t, options{env: []string{"APP_MANIFEST_URL=" + f.url, "APP_PUBLIC_KEY=" + f.key.public, "APP_PROBATION=30s", "APP_CRASH_AFTER=1s"}})
	v1 := fileHash(t, s.bin)
	f.publish(release("v2", 100, bad), time.Time{}, nil)
	s.waitServing("crashlater", 20*time.Second)
	s.waitLog("upgrade rolled back", 20*time.Second)
	s.waitServing("v1", 20*time.Second)

	f.publish(release("v2", 100, bad), time.Time{}, nil) // re-signed: newer
	s.waitLog("release refused: quarantined on this host", 20*time.Second)
	time.Sleep(time.Second)
	if r := s.mustGet("/"); r.version != "v1" {
		t.Fatalf("serving %s after the rolled-back release was republished", r.version)
	}
	if fileHash(t, s.bin) != v1 {
		t.Fatal("the binary on disk changed")
	}
	if n := strings.Count(s.log(), "fetcher.Manifest: taking release"); n != 1 {
		t.Errorf("the release was taken %d times, want once", n)
	}
}
