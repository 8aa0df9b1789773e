package s3_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/manifest"
)

// TestManifestOverS3: a manifest in a bucket names its asset relative to
// its key; the host downloads the asset beside it, over the connection its
// polls use, and refuses, without downloading, a release it is outside of.
func TestManifestOverS3(t *testing.T) {
	gw := startVersityGW(t)
	gw.mkBucket(t, "fleet")
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubText, _ := pub.MarshalText()
	bin := randomBytes(100 << 10)
	sum := sha256.Sum256(bin)
	gw.put(t, "fleet", "app/app_linux_amd64/app.minisig", manifest.Sign(priv, bin, "app", time.Now()))
	gw.put(t, "fleet", "app/app_linux_amd64/app", bin)
	signedAt := time.Now().Add(-time.Hour)
	publish := func(percent float64) {
		signedAt = signedAt.Add(time.Minute)
		data, err := (&manifest.Manifest{
			Format: manifest.Format, Version: "v2", Expires: time.Now().Add(time.Hour),
			Rollout: &manifest.Rollout{Percent: percent},
			Assets:  map[string]manifest.Asset{"linux/amd64": {Name: "app_linux_amd64/app", Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:])}},
		}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		gw.put(t, "fleet", "app/manifest.json.minisig", manifest.Sign(priv, data, "manifest.json", signedAt))
		gw.put(t, "fleet", "app/manifest.json", data)
	}
	proxy := newCountingProxy(t, gw.Endpoint)
	var decisions []fetcher.Decision
	m := &fetcher.Manifest{
		Source:     newS3(t, proxy.URL, "fleet", "app/manifest.json"),
		PublicKey:  string(pubText),
		HostID:     "s3-host",
		Platform:   "linux/amd64",
		Running:    "none",
		StateFile:  os.DevNull,
		OnDecision: func(d fetcher.Decision) { decisions = append(decisions, d) },
	}
	if err := m.Init(); err != nil {
		t.Fatal(err)
	}

	publish(0)
	if r, err := m.Fetch(); err != nil || r != nil {
		t.Fatalf("at 0%%: %v, %v", r, err)
	}
	if len(decisions) != 1 || !errors.Is(decisions[0].Err, manifest.ErrOutsideRollout) {
		t.Fatalf("decisions %+v", decisions)
	}
	methods, bodyBytes := proxy.counts()
	if bodyBytes >= int64(len(bin)) {
		t.Fatalf("a host outside the rollout read %d body bytes (%v)", bodyBytes, methods)
	}

	publish(100)
	r, err := m.Fetch()
	if err != nil || r == nil {
		t.Fatalf("at 100%%: %v, %v", r, err)
	}
	if sig, err := r.(fetcher.Signed).Signature(); err != nil || !minisign.Verify(pub, bin, sig) {
		t.Fatalf("asset signature %q, %v", sig, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
	if last := decisions[len(decisions)-1]; !last.Downloaded {
		t.Fatalf("last decision %+v", last)
	}
	// The asset's fetcher shares the manifest fetcher's SDK client, so the
	// download took the connection the polls kept warm.
	if n := proxy.connections(); n != 1 {
		t.Errorf("the host opened %d connections to the store, want 1", n)
	}
}
