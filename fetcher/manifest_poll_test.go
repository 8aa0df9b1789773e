package fetcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/manifest"
)

// signed marshals m and signs it one second after the previous manifest.
func (f *fleetRelease) signed(m *manifest.Manifest) (data, sig []byte) {
	data, err := m.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	f.tick++
	return data, manifest.Sign(f.priv, data, "manifest.json", time.Unix(f.tick, 0))
}

// putManifest publishes data alone at /rel/manifest.json, with a new ETag.
func (f *fleetRelease) putManifest(data []byte) {
	f.etag++
	f.srv.put("/rel/manifest.json", &testFile{body: data, etag: fmt.Sprintf(`"m%d"`, f.etag)})
}

// putSignature publishes sig alone at /rel/manifest.json.minisig, with a
// new ETag.
func (f *fleetRelease) putSignature(sig []byte) {
	f.etag++
	f.srv.put("/rel/manifest.json.minisig", &testFile{body: sig, etag: fmt.Sprintf(`"s%d"`, f.etag)})
}

// decisionLog collects a Manifest's decisions.
type decisionLog struct {
	mu sync.Mutex
	ds []Decision
}

func (l *decisionLog) add(d Decision) {
	l.mu.Lock()
	l.ds = append(l.ds, d)
	l.mu.Unlock()
}

// take returns the decisions since the last call.
func (l *decisionLog) take() []Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	ds := l.ds
	l.ds = nil
	return ds
}

// mustDecide runs one poll and fails unless it made exactly one decision,
// on version, with an error matching want.
func mustDecide(t *testing.T, m *Manifest, log *decisionLog, version string, want error) {
	t.Helper()
	if body, err := fetchAsset(t, m); err != nil || body != nil {
		t.Fatalf("Fetch = %q, %v; want no asset", body, err)
	}
	ds := log.take()
	if len(ds) != 1 || ds[0].Version != version || !errors.Is(ds[0].Err, want) {
		t.Fatalf("decisions %+v; want one on %q with %v", ds, version, want)
	}
}

// mustNotDecide runs one poll and fails if it made a decision.
func mustNotDecide(t *testing.T, m *Manifest, log *decisionLog) {
	t.Helper()
	if body, err := fetchAsset(t, m); err != nil || body != nil {
		t.Fatalf("Fetch = %q, %v; want nothing", body, err)
	}
	if ds := log.take(); len(ds) != 0 {
		t.Fatalf("decisions %+v on a poll that should see no change", ds)
	}
}

// TestManifestHTTPOneRequestPerPoll: a host polling an unchanged manifest
// sends one conditional GET per poll and reads no body; it does not poll
// the signature on its own (a new signature beside the old manifest,
// as a publisher leaves it between its two writes, is not even
// requested), and takes the new manifest at the poll after it is
// published. A new manifest seen with the old signature (a store that
// does not keep the order of writes) is read again with its signature at
// the next poll, and verifies once the signature is there.
func TestManifestHTTPOneRequestPerPoll(t *testing.T) {
	f := newFleetRelease(t)
	a := f.asset("/rel/app", []byte("the binary"))
	var log decisionLog
	var ds []Decision
	m := f.host("any", &ds)
	m.OnDecision = log.add
	m.Running = a.SHA256 // every manifest is a decision without a download

	data, sig := f.signed(releaseOf("v1", 100, a))
	f.putSignature(sig)
	f.putManifest(data)
	mustDecide(t, m, &log, "v1", manifest.ErrUpToDate)
	f.srv.counts()
	for i := 0; i < 3; i++ {
		mustNotDecide(t, m, &log)
		if req, body := f.srv.counts(); req != 1 || body != 0 {
			t.Fatalf("unchanged poll %d: %d requests, %d body bytes; want 1 and 0", i, req, body)
		}
	}

	// Publish order: the signature first...
	data, sig = f.signed(releaseOf("v2", 50, a))
	f.putSignature(sig)
	mustNotDecide(t, m, &log)
	if req, body := f.srv.counts(); req != 1 || body != 0 {
		t.Fatalf("poll between the signature and the manifest: %d requests, %d body bytes; want 1 and 0", req, body)
	}
	if n := f.srv.gets("/rel/manifest.json.minisig"); n != 1 {
		t.Fatalf("the manifest's signature was requested %d times, want once (with the first manifest)", n)
	}
	// ...then the manifest: taken at the next poll, with its signature.
	f.putManifest(data)
	mustDecide(t, m, &log, "v2", manifest.ErrUpToDate)
	if req, _ := f.srv.counts(); req != 2 {
		t.Fatalf("poll of a new manifest: %d requests, want 2 (manifest, signature)", req)
	}
	mustNotDecide(t, m, &log)

	// The other order: the new manifest beside the old signature does not
	// verify; the next poll reads both again, and takes them once the
	// signature is there, without another publication of the manifest.
	data, sig = f.signed(releaseOf("v3", 100, a))
	f.putManifest(data)
	mustDecide(t, m, &log, "", manifest.ErrTampered)
	f.putSignature(sig)
	f.srv.counts()
	mustDecide(t, m, &log, "v3", manifest.ErrUpToDate)
	if req, _ := f.srv.counts(); req != 2 {
		t.Fatalf("poll after a manifest that did not verify: %d requests, want 2 (manifest, signature)", req)
	}
	mustNotDecide(t, m, &log)
	if req, body := f.srv.counts(); req != 1 || body != 0 {
		t.Fatalf("unchanged poll: %d requests, %d body bytes; want 1 and 0", req, body)
	}
}

// TestManifestHTTPWithoutValidators: on a server that sends neither ETag
// nor Last-Modified, a manifest that did not verify is still read again
// (the source forgot it), and one that stays broken is read
// unverifiedRetries times in all.
func TestManifestHTTPWithoutValidators(t *testing.T) {
	f := newFleetRelease(t)
	a := f.asset("/rel/app", []byte("the binary"))
	var log decisionLog
	var ds []Decision
	m := f.host("any", &ds)
	m.OnDecision = log.add
	m.Running = a.SHA256
	data, _ := f.signed(releaseOf("v1", 100, a))
	_, other := f.signed(releaseOf("v0", 100, a))
	f.srv.put("/rel/manifest.json", &testFile{body: data})
	f.srv.put("/rel/manifest.json.minisig", &testFile{body: other})
	for i := 0; i < unverifiedRetries; i++ {
		mustDecide(t, m, &log, "", manifest.ErrTampered)
	}
	before := f.srv.gets("/rel/manifest.json.minisig")
	for i := 0; i < 3; i++ {
		if body, err := fetchAsset(t, m); err != nil || body != nil {
			t.Fatalf("Fetch = %q, %v", body, err)
		}
	}
	if ds := log.take(); len(ds) != 0 {
		t.Fatalf("a manifest that never verifies was decided on again: %+v", ds)
	}
	if n := f.srv.gets("/rel/manifest.json.minisig") - before; n != 0 {
		t.Fatalf("the signature of a refused manifest was fetched %d more times", n)
	}
}

// TestManifestFileIgnoresSignatureOnly: a File source watches the manifest
// alone: a new signature beside it is not a new version; a new manifest
// seen before its signature is read again at the next poll.
func TestManifestFileIgnoresSignatureOnly(t *testing.T) {
	f := newFleetRelease(t) // for its key and signing clock; the store is a directory
	dir := t.TempDir()
	path := filepath.Join(dir, "manifest.json")
	stamp := time.Now().Add(-time.Hour)
	write := func(name string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		stamp = stamp.Add(time.Minute) // distinct stamps, whatever the file system's resolution
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	a := manifest.Asset{Name: "app", Size: 1, SHA256: strings.Repeat("a", 64)}
	var log decisionLog
	m := &Manifest{Source: &File{Path: path}, PublicKey: f.pub, HostID: "x", Platform: "linux/amd64",
		Running: a.SHA256, StateFile: os.DevNull, OnDecision: log.add}
	if err := m.Init(); err != nil {
		t.Fatal(err)
	}
	m.Source.(*File).Interval = 0

	data, sig := f.signed(releaseOf("v1", 100, a))
	write("manifest.json.minisig", sig)
	write("manifest.json", data)
	mustDecide(t, m, &log, "v1", manifest.ErrUpToDate)
	mustNotDecide(t, m, &log)

	// A signature alone, as between a publisher's two writes.
	data, sig = f.signed(releaseOf("v2", 100, a))
	write("manifest.json.minisig", sig)
	mustNotDecide(t, m, &log)
	write("manifest.json", data)
	mustDecide(t, m, &log, "v2", manifest.ErrUpToDate)

	// The manifest before its signature.
	data, sig = f.signed(releaseOf("v3", 100, a))
	write("manifest.json", data)
	mustDecide(t, m, &log, "", manifest.ErrTampered)
	write("manifest.json.minisig", sig)
	mustDecide(t, m, &log, "v3", manifest.ErrUpToDate)
	mustNotDecide(t, m, &log)
}

// TestManifestGithubIgnoresSignatureOnly: with a Github source, a replaced
// manifest.json.minisig asset beside the same manifest is not a new
// version (the poll, one request, sees the changed release and reads
// nothing more); a new manifest uploaded before its signature is read
// again at the next poll.
func TestManifestGithubIgnoresSignatureOnly(t *testing.T) {
	f := newGhFleet(t)
	bin := []byte("binary of v1")
	a := f.release("v1.0.0", "v1", bin, false, nil)
	var ds []Decision
	m := f.host(&ds)
	var log decisionLog
	m.OnDecision = log.add
	m.Running = a.SHA256
	mustDecide(t, m, &log, "v1", manifest.ErrUpToDate)
	mustNotDecide(t, m, &log)

	sign := func(version string) (data, sig []byte) {
		data, err := releaseOf(version, 100, a).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		f.tick++
		return data, manifest.Sign(f.priv, data, "manifest.json", time.Unix(f.tick, 0))
	}
	assets := f.assets["v1.0.0"]
	// The signature asset replaced alone.
	_, assets["manifest.json.minisig"] = sign("v1")
	f.gh.publish("v1.0.0", assets, 0)
	f.gh.counts()
	mustNotDecide(t, m, &log)
	if req, _ := f.gh.counts(); req != 1 {
		t.Fatalf("poll after a replaced signature: %d requests, want 1 (the release)", req)
	}

	// A new manifest uploaded before its signature.
	data, sig := sign("v2")
	assets["manifest.json"] = data
	f.gh.publish("v1.0.0", assets, 0)
	mustDecide(t, m, &log, "", manifest.ErrTampered)
	assets["manifest.json.minisig"] = sig
	f.gh.publish("v1.0.0", assets, 0)
	mustDecide(t, m, &log, "v2", manifest.ErrUpToDate)
	mustNotDecide(t, m, &log)
}
