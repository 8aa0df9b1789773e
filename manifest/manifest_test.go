package manifest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
)

const hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func validManifest() *Manifest {
	return &Manifest{
		Format:  Format,
		Version: "v2.0.0",
		Channel: "stable",
		Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Rollout: &Rollout{Percent: 25, Hosts: []string{"canary-1"}},
		Assets: map[string]Asset{
			"linux/amd64": {Name: "app_linux_amd64/app", Size: 10, SHA256: hashA},
			"linux/arm64": {URL: "https://example.com/app_linux_arm64/app", Size: 11, SHA256: strings.Repeat("b", 64)},
		},
	}
}

func TestParseRoundTrip(t *testing.T) {
	m := validManifest()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal()) = %v\n%s", err, b)
	}
	if got.Version != m.Version || got.Rollout.Percent != 25 || got.Assets["linux/amd64"] != m.Assets["linux/amd64"] || !got.Expires.Equal(m.Expires) {
		t.Fatalf("round trip changed the manifest: %+v", got)
	}
}

func TestParseRefusals(t *testing.T) {
	good, _ := validManifest().Marshal()
	tests := []struct {
		name string
		edit func(s string) string
	}{
		{"not json", func(string) string { return "<html>oops</html>" }},
		{"newer format", func(s string) string { return strings.Replace(s, `"format": 1`, `"format": 2`, 1) }},
		{"no format", func(s string) string { return strings.Replace(s, `"format": 1,`, ``, 1) }},
		{"unknown field", func(s string) string { return strings.Replace(s, `"format": 1,`, `"format": 1, "rollot": {},`, 1) }},
		{"empty version", func(s string) string { return strings.Replace(s, `"v2.0.0"`, `""`, 1) }},
		{"no expiry", func(s string) string { return strings.Replace(s, `"expires": "2030-01-01T00:00:00Z",`, ``, 1) }},
		{"percent above 100", func(s string) string { return strings.Replace(s, `"percent": 25`, `"percent": 100.5`, 1) }},
		{"negative percent", func(s string) string { return strings.Replace(s, `"percent": 25`, `"percent": -1`, 1) }},
		{"percent finer than 0.01", func(s string) string { return strings.Replace(s, `"percent": 25`, `"percent": 25.001`, 1) }},
		{"bad platform", func(s string) string { return strings.Replace(s, `"linux/amd64"`, `"linux-amd64"`, 1) }},
		{"short hash", func(s string) string { return strings.Replace(s, hashA, "abc", 1) }},
		{"uppercase hash", func(s string) string { return strings.Replace(s, hashA, strings.ToUpper(hashA), 1) }},
		{"zero size", func(s string) string { return strings.Replace(s, `"size": 10`, `"size": 0`, 1) }},
		{"escaping name", func(s string) string { return strings.Replace(s, `app_linux_amd64/app`, `../app`, 1) }},
		{"absolute name", func(s string) string { return strings.Replace(s, `app_linux_amd64/app`, `/etc/app`, 1) }},
		{"ftp url", func(s string) string { return strings.Replace(s, `https://example.com`, `ftp://example.com`, 1) }},
		{"name and url", func(s string) string {
			return strings.Replace(s, `"name": "app_linux_amd64/app",`, `"name": "a", "url": "https://x/a",`, 1)
		}},
		{"trailing data", func(s string) string { return s + "{}" }},
		{"no assets", func(s string) string {
			i := strings.Index(s, `"assets"`)
			return s[:i] + `"assets": {}}`
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.edit(string(good)))
			if string(b) == string(good) {
				t.Fatal("the edit changed nothing")
			}
			if _, err := Parse(b); !errors.Is(err, ErrFormat) {
				t.Fatalf("Parse = %v, want ErrFormat\n%s", err, b)
			}
		})
	}
}

func newKey(t testing.TB) (minisign.PublicKey, minisign.PrivateKey) {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestVerify(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	_ = otherPub
	data, _ := validManifest().Marshal()
	at := time.Unix(1_800_000_000, 0)
	sig := Sign(priv, data, "manifest.json", at)

	s, err := Verify(pub, data, sig)
	if err != nil {
		t.Fatal(err)
	}
	if !s.SignedAt.Equal(at) || s.Version != "v2.0.0" {
		t.Fatalf("Verify = %v at %v", s.Version, s.SignedAt)
	}

	tampered := []byte(strings.Replace(string(data), `"percent": 25`, `"percent": 100`, 1))
	legacy := minisign.SignWithComments(priv, data, "timestamp:1800000000", "legacy")
	noTime := minisign.SignWithComments(priv, data, "file:manifest.json", "x")
	// A trusted comment edited after signing: the global signature fails.
	editedComment := []byte(strings.Replace(string(sig), "timestamp:1800000000", "timestamp:1900000000", 1))
	tests := []struct {
		name string
		data []byte
		sig  []byte
		want error
	}{
		{"tampered manifest", tampered, sig, ErrTampered},
		{"no signature", data, nil, ErrTampered},
		{"garbage signature", data, []byte("<html>not found</html>"), ErrTampered},
		{"other key", data, Sign(otherPriv, data, "", at), ErrTampered},
		{"edited trusted comment", data, editedComment, ErrTampered},
		{"no timestamp", data, noTime, ErrFormat},
		{"signed garbage", []byte("{}"), Sign(priv, []byte("{}"), "", at), ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Verify(pub, tc.data, tc.sig); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	// A legacy (not prehashed) signature is valid minisign too.
	if _, err := Verify(pub, data, legacy); err != nil {
		t.Fatalf("legacy signature: %v", err)
	}
}

func TestSignedTime(t *testing.T) {
	for in, want := range map[string]int64{
		"timestamp:1700000000\tfile:m.json\thashed": 1700000000,
		"file:m.json timestamp:42":                  42,
	} {
		got, err := SignedTime(in)
		if err != nil || got.Unix() != want {
			t.Errorf("SignedTime(%q) = %v, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "timestamp:", "timestamp:-5", "timestamp:12x", "file:x"} {
		if _, err := SignedTime(in); !errors.Is(err, ErrFormat) {
			t.Errorf("SignedTime(%q) = %v, want ErrFormat", in, err)
		}
	}
}

func TestDecide(t *testing.T) {
	signedAt := time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)
	now := signedAt.Add(time.Hour)
	inside, outside := hostsAround(t, "v2.0.0", 25)
	base := Host{ID: inside, Name: "web-7", Platform: "linux/amd64", Channel: "stable", Running: strings.Repeat("c", 64), NewestSigned: signedAt.Add(-time.Hour)}

	tests := []struct {
		name string
		edit func(m *Manifest, h *Host, now *time.Time)
		want error
	}{
		{"applies", func(*Manifest, *Host, *time.Time) {}, nil},
		{"expired", func(_ *Manifest, _ *Host, n *time.Time) { *n = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrExpired},
		{"other channel", func(_ *Manifest, h *Host, _ *time.Time) { h.Channel = "beta" }, ErrChannel},
		{"any channel", func(_ *Manifest, h *Host, _ *time.Time) { h.Channel = "" }, nil},
		{"older", func(_ *Manifest, h *Host, _ *time.Time) { h.NewestSigned = signedAt.Add(time.Second) }, ErrNotNewer},
		{"same time", func(_ *Manifest, h *Host, _ *time.Time) { h.NewestSigned = signedAt }, ErrNotNewer},
		{"no asset", func(_ *Manifest, h *Host, _ *time.Time) { h.Platform = "windows/amd64" }, ErrPlatform},
		{"running it", func(_ *Manifest, h *Host, _ *time.Time) { h.Running = hashA }, ErrUpToDate},
		{"rolled back", func(_ *Manifest, h *Host, _ *time.Time) { h.Quarantined = func(s string) bool { return s == hashA } }, ErrQuarantined},
		{"outside", func(_ *Manifest, h *Host, _ *time.Time) { h.ID = outside }, ErrOutsideRollout},
		{"named canary", func(_ *Manifest, h *Host, _ *time.Time) { h.ID, h.Name = outside, "canary-1" }, nil},
		{"zero percent", func(m *Manifest, _ *Host, _ *time.Time) { m.Rollout = &Rollout{} }, ErrOutsideRollout},
		{"no rollout rule", func(m *Manifest, h *Host, _ *time.Time) { m.Rollout, h.ID = nil, outside }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, h, n := validManifest(), base, now
			tc.edit(m, &h, &n)
			a, err := Decide(&Signed{Manifest: m, SignedAt: signedAt}, h, n)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Decide = %v, want %v", err, tc.want)
			}
			if err == nil && a.SHA256 != hashA {
				t.Fatalf("Decide chose %+v", a)
			}
		})
	}
}

// hostsAround finds a host identity inside and one outside a rollout of
// percent for version.
func hostsAround(t *testing.T, version string, percent float64) (inside, outside string) {
	for i := 0; i < 1000 && (inside == "" || outside == ""); i++ {
		id := fmt.Sprintf("host-%d", i)
		if Point(id, version) < percent {
			inside = id
		} else {
			outside = id
		}
	}
	if inside == "" || outside == "" {
		t.Fatal("no hosts on both sides")
	}
	return inside, outside
}

func TestRolloutMonotonicAndFair(t *testing.T) {
	const hosts = 20000
	ids := make([]string, hosts)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i*7919)
	}
	prev := map[string]bool{}
	for _, pct := range []float64{0, 0.01, 1, 10, 25, 50, 99.99, 100} {
		r := &Rollout{Percent: pct}
		in := 0
		for _, id := range ids {
			ok := r.Includes(id, "", "v3")
			if prev[id] && !ok {
				t.Fatalf("host %s left the rollout when it widened to %v%%", id, pct)
			}
			prev[id] = ok
			if ok {
				in++
			}
		}
		share := 100 * float64(in) / hosts
		if d := share - pct; d > 1 || d < -1 {
			t.Errorf("%v%%: %.2f%% of hosts are in", pct, share)
		}
		if pct == 0 && in != 0 || pct == 100 && in != hosts {
			t.Errorf("%v%%: %d hosts in", pct, in)
		}
	}
	// Another release orders the hosts afresh.
	same := 0
	for _, id := range ids[:1000] {
		if (Point(id, "v3") < 10) == (Point(id, "v4") < 10) {
			same++
		}
	}
	if same == 1000 {
		t.Error("two releases picked exactly the same first hosts")
	}
}

func TestHostID(t *testing.T) {
	id, err := HostID()
	if err != nil || strings.TrimSpace(id) == "" || id != strings.TrimSpace(id) {
		t.Fatalf("HostID = %q, %v", id, err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := validManifest().Marshal()
	f.Add(good)
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`{"format":1,"version":"v","expires":"2030-01-01T00:00:00Z","assets":{"a/b":{"name":"x","size":1,"sha256":"` + hashA + `"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Parse error does not wrap ErrFormat: %v", err)
			}
			return
		}
		// What parses must re-encode and parse to the same thing.
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed manifest: %v", err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("re-Parse: %v\n%s", err, b)
		}
		b2, _ := again.Marshal()
		if string(b) != string(b2) {
			t.Fatalf("unstable encoding:\n%s\n%s", b, b2)
		}
	})
}
