package s3_test

import (
	"crypto/rand"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/manifest"
)

// TestManifestOverS3OneHeadPerPoll runs against versitygw: a host polling
// an unchanged manifest sends one HeadObject per poll and reads no body
// (no second HeadObject for the signature, as a binary has); a signature
// uploaded alone, as between a publisher's two writes, is not looked at;
// the new manifest is taken at the next poll; a manifest uploaded before
// its signature is read again, with its signature, at the next poll.
func TestManifestOverS3OneHeadPerPoll(t *testing.T) {
	gw := startVersityGW(t)
	gw.mkBucket(t, "fleet")
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubText, _ := pub.MarshalText()
	running := strings.Repeat("a", 64)
	signedAt := time.Now().Add(-time.Hour)
	sign := func(version string) (data, sig []byte) {
		data, err := (&manifest.Manifest{
			Format: manifest.Format, Version: version, Expires: time.Now().Add(time.Hour),
			Assets: map[string]manifest.Asset{"linux/amd64": {Name: "app", Size: 1, SHA256: running}},
		}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		signedAt = signedAt.Add(time.Minute)
		return data, manifest.Sign(priv, data, "manifest.json", signedAt)
	}
	proxy := newCountingProxy(t, gw.Endpoint)
	var decisions []fetcher.Decision
	m := &fetcher.Manifest{
		Source:     newS3(t, proxy.URL, "fleet", "app/manifest.json"),
		PublicKey:  string(pubText),
		HostID:     "s3-host",
		Platform:   "linux/amd64",
		Running:    running, // every manifest is a decision without a download
		StateFile:  os.DevNull,
		OnDecision: func(d fetcher.Decision) { decisions = append(decisions, d) },
	}
	if err := m.Init(); err != nil {
		t.Fatal(err)
	}
	poll := func(step, version string, want error) {
		t.Helper()
		decisions = nil
		if r, err := m.Fetch(); err != nil || r != nil {
			if c, ok := r.(io.Closer); ok {
				c.Close()
			}
			t.Fatalf("%s: Fetch = %v, %v; want no asset", step, r, err)
		}
		switch {
		case want == nil && len(decisions) != 0:
			t.Fatalf("%s: decisions %+v on a poll that should see no change", step, decisions)
		case want != nil && (len(decisions) != 1 || decisions[0].Version != version || !errors.Is(decisions[0].Err, want)):
			t.Fatalf("%s: decisions %+v; want one on %q with %v", step, decisions, version, want)
		}
	}
	oneHead := func(step string) {
		t.Helper()
		if methods, body := proxy.counts(); methods["HEAD"] != 1 || len(methods) != 1 || body != 0 {
			t.Fatalf("%s: %v, %d body bytes; want one HEAD and no body", step, methods, body)
		}
	}

	data, sig := sign("v1")
	gw.put(t, "fleet", "app/manifest.json.minisig", sig)
	gw.put(t, "fleet", "app/manifest.json", data)
	poll("first", "v1", manifest.ErrUpToDate)
	proxy.counts()
	for i := 0; i < 3; i++ {
		poll("unchanged", "", nil)
		oneHead("unchanged")
	}

	data, sig = sign("v2")
	gw.put(t, "fleet", "app/manifest.json.minisig", sig)
	poll("signature alone", "", nil)
	oneHead("signature alone")
	gw.put(t, "fleet", "app/manifest.json", data)
	poll("new manifest", "v2", manifest.ErrUpToDate)
	if methods, _ := proxy.counts(); methods["HEAD"] != 1 || methods["GET"] != 2 {
		t.Fatalf("new manifest: %v; want one HEAD and two GETs (manifest, signature)", methods)
	}

	data, sig = sign("v3")
	gw.put(t, "fleet", "app/manifest.json", data)
	poll("manifest before its signature", "", manifest.ErrTampered)
	gw.put(t, "fleet", "app/manifest.json.minisig", sig)
	poll("its signature, then", "v3", manifest.ErrUpToDate)
	proxy.counts()
	poll("unchanged again", "", nil)
	oneHead("unchanged again")
}
