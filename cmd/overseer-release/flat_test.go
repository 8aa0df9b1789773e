package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/manifest"
)

// writeFiles writes name → body files into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// flatBinaries are binary archives as "goreleaser release" with
// "formats: [binary]" names them in dist/.
var flatBinaries = map[string]string{
	"linux/amd64":   "app_1.4.0_linux_amd64",
	"linux/arm64":   "app_1.4.0_linux_arm64_v8",
	"windows/amd64": "app_1.4.0_windows_amd64.exe",
}

// flatDist lays out a dist directory of flat binaries only, with the other
// files GoReleaser writes beside them, some of them named with a platform.
func flatDist(t *testing.T) string {
	t.Helper()
	dist := t.TempDir()
	files := map[string]string{
		"checksums.txt":                      "x",
		"app_1.4.0_linux_amd64.tar.gz":       "an archive",
		"app_1.4.0_linux_arm64_v8.tar.gz":    "an archive",
		"app_1.4.0_windows_amd64.zip":        "an archive",
		"app_1.4.0_linux_amd64.deb":          "a package",
		"app_1.4.0_linux_amd64.sbom.json":    "an sbom",
		"app_1.4.0_linux_arm64_v8.sbom.json": "an sbom",
		"config.yaml":                        "x",
		"metadata.json":                      "{}",
		"artifacts.json":                     "[]",
	}
	for platform, name := range flatBinaries {
		files[name] = platform + " build"
	}
	writeFiles(t, dist, files)
	return dist
}

// checkAssets fails unless the manifest's assets are exactly want
// (platform → name relative to dir), with each file's size and digest.
func checkAssets(t *testing.T, s *manifest.Signed, dir string, want map[string]string) {
	t.Helper()
	if len(s.Assets) != len(want) {
		t.Errorf("assets %+v, want %v", s.Assets, want)
	}
	for platform, name := range want {
		a := s.Assets[platform]
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if a.Name != name || a.URL != "" || a.Size != int64(len(body)) || a.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %+v, want name %s, size %d", platform, a, name, len(body))
		}
	}
}

func TestFlatDist(t *testing.T) {
	k := plainKey(t)
	dist := flatDist(t)
	if _, stderr, err := runIn("-key", k.sec, "-W", "-version", "v1.4.0", "-dist", dist, "-binary", "app"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	// The real tool accepts the manifest and each binary's signature,
	// written beside the flat file.
	minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", filepath.Join(dist, "manifest.json"))
	for _, name := range flatBinaries {
		minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", filepath.Join(dist, name))
	}
	s := verified(t, k.pub, dist)
	checkAssets(t, s, dist, flatBinaries)
	for _, ignored := range []string{"checksums.txt", "app_1.4.0_linux_amd64.tar.gz", "config.yaml"} {
		if _, err := os.Stat(filepath.Join(dist, ignored+".minisig")); err == nil {
			t.Errorf("%s was signed", ignored)
		}
	}

	// Publishing again over the same dist (a re-publish, or a halt by
	// going back to it) finds the same binaries: its own signatures and
	// manifest are not taken for binaries.
	if _, stderr, err := runIn("-key", k.sec, "-W", "-version", "v1.4.0", "-dist", dist); err != nil {
		t.Fatalf("again: %v\n%s", err, stderr)
	}
	checkAssets(t, verified(t, k.pub, dist), dist, flatBinaries)
}

// TestFlatDistFetched: a host polling the -out directory with fetcher.File
// downloads the flat binary the manifest names and gets its signature.
func TestFlatDistFetched(t *testing.T) {
	k := plainKey(t)
	dist := flatDist(t)
	pubText, err := os.ReadFile(k.pub)
	if err != nil {
		t.Fatal(err)
	}
	// The host starts first: a manifest already there when fetcher.File
	// starts is its baseline, not news.
	host := newFileHost(t, filepath.Join(dist, "manifest.json"), string(pubText), "linux/arm64")
	if _, stderr, err := runIn("-key", k.sec, "-W", "-version", "v1.4.0", "-dist", dist); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var body, sig []byte
	// File checks at most once a second: a few polls at most.
	for i := 0; i < 10 && body == nil; i++ {
		r, err := host.Fetch()
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			if d := host.decided(); len(d) > 0 {
				t.Fatalf("the host decided %+v without taking the binary", d)
			}
			continue
		}
		if body, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
		signed, ok := r.(fetcher.Signed)
		if !ok {
			t.Fatalf("%T carries no signature", r)
		}
		if sig, err = signed.Signature(); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.Join(dist, flatBinaries["linux/arm64"]))
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(want) {
		t.Fatalf("the host took %q, want %q", body, want)
	}
	var pub minisign.PublicKey
	if err := pub.UnmarshalText(pubText); err != nil {
		t.Fatal(err)
	}
	if !minisign.Verify(pub, body, sig) {
		t.Fatalf("the signature the host got does not verify: %q", sig)
	}
	decisions := host.decided()
	if len(decisions) == 0 {
		t.Fatal("the host took the binary without a decision")
	}
	last := decisions[len(decisions)-1]
	if !last.Downloaded || last.Err != nil || last.Asset.Name != flatBinaries["linux/arm64"] {
		t.Errorf("decisions %+v", decisions)
	}
}

// TestMixedDistPrefersFlat: "goreleaser release" leaves the build
// directories beside the binary archives; the flat file, which is what a
// GitHub release holds, is published.
func TestMixedDistPrefersFlat(t *testing.T) {
	k := plainKey(t)
	dist := goreleaserDist(t)
	writeFiles(t, dist, map[string]string{
		"app_1.4.0_linux_amd64":  "linux amd64 archive",
		"app_1.4.0_linux_arm64":  "linux arm64 archive",
		"app_1.4.0_darwin_arm64": "darwin arm64 archive",
	})
	_, stderr, err := runIn("-key", k.sec, "-W", "-version", "v1.4.0", "-dist", dist, "-binary", "app")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	checkAssets(t, verified(t, k.pub, dist), dist, map[string]string{
		"linux/amd64":  "app_1.4.0_linux_amd64",
		"linux/arm64":  "app_1.4.0_linux_arm64",
		"darwin/arm64": "app_1.4.0_darwin_arm64",
	})
	if n := strings.Count(stderr, "publishing the flat binary, not the build directory"); n != 3 {
		t.Errorf("%d log lines about the ignored directories, want 3:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "ignored="+filepath.Join(dist, "app_linux_amd64_v1")) {
		t.Errorf("the log does not name the ignored directory:\n%s", stderr)
	}
	minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", filepath.Join(dist, "app_1.4.0_linux_amd64"))

	// A platform with only a directory build is still published, with a
	// warning: its name has a "/" that a GitHub release cannot hold.
	if err := os.Remove(filepath.Join(dist, "app_1.4.0_darwin_arm64")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err = runIn("-key", k.sec, "-W", "-version", "v1.4.0", "-dist", dist); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if a := verified(t, k.pub, dist).Assets["darwin/arm64"]; a.Name != "app_darwin_arm64/app" {
		t.Errorf("darwin/arm64 %+v", a)
	}
	if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "platform=darwin/arm64") {
		t.Errorf("no warning about the directory-only platform:\n%s", stderr)
	}
}

func TestDistDuplicates(t *testing.T) {
	k := plainKey(t)
	for _, tc := range []struct {
		what  string
		files map[string]string
		names []string
	}{
		{"two flat binaries", map[string]string{"app_linux_amd64": "a", "app_1.4.0_linux_amd64_v1": "b"}, []string{"app_linux_amd64", "app_1.4.0_linux_amd64_v1"}},
		{"two build directories", map[string]string{"app_linux_amd64_v1/app": "a", "app_linux_amd64_v3/app": "b"}, []string{"app_linux_amd64_v1", "app_linux_amd64_v3"}},
	} {
		dist := t.TempDir()
		writeFiles(t, dist, tc.files)
		_, _, err := runIn("-key", k.sec, "-W", "-version", "v1", "-dist", dist)
		if err == nil || !strings.Contains(err.Error(), "linux/amd64") {
			t.Errorf("%s: %v", tc.what, err)
			continue
		}
		for _, name := range tc.names {
			if !strings.Contains(err.Error(), filepath.Join(dist, name)) {
				t.Errorf("%s: the error does not name %s: %v", tc.what, name, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dist, "manifest.json")); err == nil {
			t.Errorf("%s: a manifest was written", tc.what)
		}
	}
}

func TestFlatPlatform(t *testing.T) {
	for name, want := range map[string]string{
		"app_linux_amd64":                "linux/amd64",
		"app_1.4.0_linux_amd64":          "linux/amd64",
		"app_linux_amd64_v1":             "linux/amd64",
		"app_linux_amd64v3":              "linux/amd64",
		"app_linux_arm64_v8.0":           "linux/arm64",
		"app_linux_armv7":                "linux/arm",
		"app_linux_mips_hardfloat":       "linux/mips",
		"app_windows_amd64.exe":          "windows/amd64",
		"app_1.4.0_windows_arm64_v8.exe": "windows/arm64",
		"checksums.txt":                  "",
		"app_linux_amd64.minisig":        "",
		"app_linux_amd64_v1.tar.gz":      "",
		"app_linux_arm64_v8.0.zip":       "",
		"app_linux_amd64.sbom.json":      "",
		"app_linux_amd64_v1.sha256":      "",
		"app_1.4.0_linux_amd64.rpm":      "",
		"app_linux_amd64.gz":             "",
		"manifest.json":                  "",
		"metadata.json":                  "",
		"app":                            "",
	} {
		got, _ := flatPlatform(name)
		if got != want {
			t.Errorf("flatPlatform(%q) = %q, want %q", name, got, want)
		}
	}
}
