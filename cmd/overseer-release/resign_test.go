package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/manifest"
)

// published publishes goreleaserDist with a -W key at 10% plus a canary,
// on channel stable, and returns the key and the dist directory.
func published(t *testing.T) (keyFiles, string) {
	t.Helper()
	k := plainKey(t)
	dist := goreleaserDist(t)
	if _, _, err := runIn("-key", k.sec, "-W", "-version", "v1.4.0", "-channel", "stable", "-dist", dist, "-percent", "10", "-hosts", "canary-1", "-expires", "48h"); err != nil {
		t.Fatal(err)
	}
	return k, dist
}

// sameRelease fails unless a and b are the same release: version, channel
// and assets.
func sameRelease(t *testing.T, a, b *manifest.Signed) {
	t.Helper()
	if a.Version != b.Version || a.Channel != b.Channel || !reflect.DeepEqual(a.Assets, b.Assets) {
		t.Errorf("the release changed: %s %q %+v, then %s %q %+v", a.Version, a.Channel, a.Assets, b.Version, b.Channel, b.Assets)
	}
}

func TestResignWidensAndHalts(t *testing.T) {
	k, dist := published(t)
	mf := filepath.Join(dist, "manifest.json")
	s0 := verified(t, k.pub, dist)

	stdout, _, err := runIn("-key", k.sec, "-W", "-resign", mf, "-percent", "50")
	if err != nil {
		t.Fatal(err)
	}
	minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", mf)
	s1 := verified(t, k.pub, dist)
	sameRelease(t, s0, s1)
	if !s1.Expires.Equal(s0.Expires) {
		t.Errorf("expiry changed without -expires: %v, then %v", s0.Expires, s1.Expires)
	}
	if s1.Rollout == nil || s1.Rollout.Percent != 50 || !slices.Equal(s1.Rollout.Hosts, []string{"canary-1"}) {
		t.Errorf("widened rollout %+v", s1.Rollout)
	}
	if !s1.SignedAt.After(s0.SignedAt) {
		t.Errorf("re-signed at %v, not after the publish at %v: hosts would ignore it", s1.SignedAt, s0.SignedAt)
	}
	want := "re-signed " + mf + ": version v1.4.0, rollout 50% + hosts canary-1, expires " + s0.Expires.Format(time.RFC3339) + ", signed " + s1.SignedAt.Format(time.RFC3339) + "\n"
	if stdout != want {
		t.Errorf("summary %q, want %q", stdout, want)
	}

	// Every host, then a halt at 0%.
	if stdout, _, err = runIn("-key", k.sec, "-W", "-resign", mf, "-percent", "100", "-hosts", ""); err != nil {
		t.Fatal(err)
	}
	s2 := verified(t, k.pub, dist)
	if s2.Rollout != nil || !strings.Contains(stdout, "rollout every host,") || !s2.SignedAt.After(s1.SignedAt) {
		t.Errorf("100%%: rollout %+v signed %v, summary %q", s2.Rollout, s2.SignedAt, stdout)
	}
	if _, _, err = runIn("-key", k.sec, "-W", "-resign", mf, "-percent", "0"); err != nil {
		t.Fatal(err)
	}
	s3 := verified(t, k.pub, dist)
	sameRelease(t, s0, s3)
	if s3.Rollout == nil || s3.Rollout.Percent != 0 || len(s3.Rollout.Hosts) != 0 || !s3.SignedAt.After(s2.SignedAt) {
		t.Errorf("halt: rollout %+v signed %v", s3.Rollout, s3.SignedAt)
	}
}

// TestResignWithoutBinaries: the small box has only the key and the
// manifest; -hosts replaces the canaries and keeps the percentage, and
// nothing but the manifest and its signature is written.
func TestResignWithoutBinaries(t *testing.T) {
	k, dist := published(t)
	s0 := verified(t, k.pub, dist)
	box := t.TempDir()
	for _, name := range []string{"manifest.json", "manifest.json.minisig"} {
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(box, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	stdout, _, err := runIn("-key", k.sec, "-W", "-resign", filepath.Join(box, "manifest.json"), "-hosts", "canary-2, canary-3", "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	s1 := verified(t, k.pub, out)
	sameRelease(t, s0, s1)
	if s1.Rollout == nil || s1.Rollout.Percent != 10 || !slices.Equal(s1.Rollout.Hosts, []string{"canary-2", "canary-3"}) || !s1.Expires.Equal(s0.Expires) {
		t.Errorf("rollout %+v expires %v", s1.Rollout, s1.Expires)
	}
	if !strings.Contains(stdout, "rollout 10% + hosts canary-2,canary-3,") {
		t.Errorf("summary %q", stdout)
	}
	if names := dirNames(t, out); !slices.Equal(names, []string{"manifest.json", "manifest.json.minisig"}) {
		t.Errorf("-out holds %v", names)
	}
	if s := verified(t, k.pub, box); !s.SignedAt.Equal(s0.SignedAt) {
		t.Error("the input manifest changed although -out is elsewhere")
	}
}

// dirNames lists a directory, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// snapshot is the content of every file in a directory.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, name := range dirNames(t, dir) {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			files[name] = string(b)
		}
	}
	return files
}

func TestResignRefuses(t *testing.T) {
	k, dist := published(t)
	mf := filepath.Join(dist, "manifest.json")
	other := plainKey(t)
	out := t.TempDir()

	refuse := func(name, want string, args ...string) {
		t.Helper()
		before := snapshot(t, dist)
		_, _, err := runIn(args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", name, err, want)
		}
		if after := snapshot(t, dist); !reflect.DeepEqual(before, after) {
			t.Errorf("%s: the manifest's directory changed", name)
		}
		if names := dirNames(t, out); len(names) != 0 {
			t.Errorf("%s: -out holds %v", name, names)
		}
	}
	refuse("another key", "does not verify with the public key of "+other.sec,
		"-key", other.sec, "-W", "-resign", mf, "-percent", "50", "-out", out)
	refuse("usage: -dist", "-dist cannot be used with -resign", "-key", k.sec, "-W", "-resign", mf, "-dist", dist, "-out", out)
	refuse("usage: -version", "-version cannot be used with -resign", "-key", k.sec, "-W", "-resign", mf, "-version", "v2", "-out", out)
	refuse("usage: -asset", "-asset cannot be used with -resign", "-key", k.sec, "-W", "-resign", mf, "-asset", "linux/amd64=x", "-out", out)
	refuse("usage: no key", "-key is required", "-resign", mf, "-out", out)
	// No effective change: hosts would see nothing new.
	refuse("nothing given", "nothing to change", "-key", k.sec, "-W", "-resign", mf, "-out", out)
	refuse("same rollout", "nothing to change", "-key", k.sec, "-W", "-resign", mf, "-percent", "10", "-hosts", "canary-1", "-out", out)

	// Tampered: the percentage edited by hand after signing.
	data, _ := os.ReadFile(mf)
	edited := strings.Replace(string(data), `"percent": 10`, `"percent": 90`, 1)
	if edited == string(data) {
		t.Fatalf("no percentage to edit in %s", data)
	}
	if err := os.WriteFile(mf, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	refuse("tampered", "does not match the manifest's bytes", "-key", k.sec, "-W", "-resign", mf, "-out", out)
	if err := os.WriteFile(mf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(mf + ".minisig")
	refuse("no signature", "read the manifest's signature", "-key", k.sec, "-W", "-resign", mf, "-out", out)
}

// TestResignUnfreezesAFleet: an expired manifest is refused by a host
// (fetcher.Manifest); re-signed with a new -expires it is taken.
func TestResignUnfreezesAFleet(t *testing.T) {
	k := plainKey(t)
	key, err := readKey(k.sec, true, "")
	if err != nil {
		t.Fatal(err)
	}
	pubText, _ := os.ReadFile(k.pub)
	dir := t.TempDir()
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := []byte("the release the fleet is waiting for")
	write("app", bin)
	write("app.minisig", manifest.Sign(key, bin, "app", time.Now()))

	host := newFileHost(t, filepath.Join(dir, "manifest.json"), string(pubText), "linux/amd64")
	// poll fetches until the host decides on the manifest (File checks at
	// most once a second) and returns the decision and what was taken.
	poll := func() (fetcher.Decision, []byte) {
		t.Helper()
		host.forget()
		for i := 0; i < 10; i++ {
			r, err := host.Fetch()
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if r != nil {
				if body, err = io.ReadAll(r); err != nil {
					t.Fatal(err)
				}
			}
			if d := host.decided(); len(d) > 0 {
				return d[0], body
			}
		}
		t.Fatal("the host did not decide on the manifest in 10 polls")
		return fetcher.Decision{}, nil
	}

	sum := sha256.Sum256(bin)
	signed := time.Now().Add(-2 * time.Hour)
	m := &manifest.Manifest{
		Format: manifest.Format, Version: "v2.0.0",
		Expires: time.Now().Add(-time.Hour).UTC().Truncate(time.Second),
		Assets:  map[string]manifest.Asset{"linux/amd64": {Name: "app", Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:])}},
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write("manifest.json.minisig", manifest.Sign(key, data, "manifest.json", signed))
	write("manifest.json", data)
	if d, body := poll(); !errors.Is(d.Err, manifest.ErrExpired) || body != nil {
		t.Fatalf("the expired manifest: %v, took %q", d.Err, body)
	}

	mf := filepath.Join(dir, "manifest.json")
	before := snapshot(t, dir)
	if _, _, err := runIn("-key", k.sec, "-W", "-resign", mf, "-percent", "100"); err == nil || !strings.Contains(err.Error(), "give -expires") {
		t.Fatalf("re-signing an expired manifest without -expires: %v", err)
	}
	if !reflect.DeepEqual(before, snapshot(t, dir)) {
		t.Fatal("a refused re-sign changed the directory")
	}
	stdout, stderr, err := runIn("-key", k.sec, "-W", "-resign", mf, "-expires", "336h")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "EXPIRED") {
		t.Errorf("no warning about the expired manifest: %s", stderr)
	}
	s := verified(t, k.pub, dir)
	if d := time.Until(s.Expires); d < 335*time.Hour || d > 337*time.Hour {
		t.Errorf("renewed expiry %v", s.Expires)
	}
	if s.Version != "v2.0.0" || s.Rollout != nil || !strings.Contains(stdout, "expires "+s.Expires.Format(time.RFC3339)) {
		t.Errorf("renewed %+v, summary %q", s.Manifest, stdout)
	}
	if d, body := poll(); d.Err != nil || string(body) != string(bin) {
		t.Fatalf("the renewed manifest: %v, took %q", d.Err, body)
	}
}

func TestSigningTime(t *testing.T) {
	prev := time.Now()
	at, err := signingTime(prev)
	if err != nil || at.Unix() <= prev.Unix() || time.Since(at) > time.Second {
		t.Errorf("a re-sign in the second of the publish: %v, %v (previous %v)", at, err, prev)
	}
	if _, err := signingTime(time.Now().Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "fix this clock") {
		t.Errorf("a previous signature an hour ahead: %v", err)
	}
}
