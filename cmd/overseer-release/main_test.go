package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/manifest"
)

// needMinisign fails (under test.sh) or skips when the minisign tool is
// missing.
func needMinisign(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("minisign"); err != nil {
		if os.Getenv("OVERSEER_REQUIRE_ALL") != "" {
			t.Fatal("minisign not found: run scripts/install-test-deps.sh (Debian package minisign)")
		}
		t.Skip("minisign not found: run scripts/install-test-deps.sh")
	}
}

// minisignCmd runs the minisign tool with stdin.
func minisignCmd(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command("minisign", args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("minisign %v: %v\n%s", args, err, out)
	}
}

// goreleaserDist lays out a dist directory as GoReleaser does.
func goreleaserDist(t *testing.T) string {
	dist := t.TempDir()
	for dir, body := range map[string]string{
		"app_linux_amd64_v1": "linux amd64 build",
		"app_linux_arm64":    "linux arm64 build",
		"app_darwin_arm64":   "darwin arm64 build",
	} {
		if err := os.MkdirAll(filepath.Join(dist, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dist, dir, "app"), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Files GoReleaser leaves beside the builds are ignored.
	os.WriteFile(filepath.Join(dist, "checksums.txt"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(dist, "config"), 0o755)
	return dist
}

func TestPublishVerifiesWithMinisign(t *testing.T) {
	needMinisign(t)
	for _, tc := range []struct {
		name     string
		generate []string
		stdin    string
		flags    []string
		env      string
	}{
		{"unencrypted key", []string{"-W"}, "", []string{"-W"}, ""},
		{"encrypted key", nil, "s3cret\ns3cret\n", nil, "s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := t.TempDir()
			pub, sec := filepath.Join(keys, "k.pub"), filepath.Join(keys, "k.key")
			minisignCmd(t, tc.stdin, append([]string{"-G", "-p", pub, "-s", sec}, tc.generate...)...)
			if tc.env != "" {
				t.Setenv("MINISIGN_PASSWORD", tc.env)
			}
			dist := goreleaserDist(t)
			args := append([]string{"-key", sec, "-version", "v1.2.3", "-dist", dist, "-binary", "app", "-percent", "12.5", "-hosts", "canary-1,canary-2", "-expires", "48h"}, tc.flags...)
			if err := run(args); err != nil {
				t.Fatal(err)
			}
			mf := filepath.Join(dist, "manifest.json")
			// The real tool accepts what the command signed: the manifest
			// and each binary.
			minisignCmd(t, "", "-V", "-q", "-p", pub, "-m", mf)
			minisignCmd(t, "", "-V", "-q", "-p", pub, "-m", filepath.Join(dist, "app_linux_arm64", "app"))

			pubText, _ := os.ReadFile(pub)
			key, err := manifest.ParsePublicKey(string(pubText))
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(mf)
			sig, _ := os.ReadFile(mf + ".minisig")
			s, err := manifest.Verify(key, data, sig)
			if err != nil {
				t.Fatal(err)
			}
			if since := time.Since(s.SignedAt); since < -time.Minute || since > time.Minute {
				t.Errorf("signed at %v", s.SignedAt)
			}
			if d := time.Until(s.Expires); d < 47*time.Hour || d > 49*time.Hour {
				t.Errorf("expires %v", s.Expires)
			}
			if s.Version != "v1.2.3" || s.Rollout == nil || s.Rollout.Percent != 12.5 || len(s.Rollout.Hosts) != 2 {
				t.Errorf("manifest %+v rollout %+v", s.Manifest, s.Rollout)
			}
			want := map[string]string{"linux/amd64": "app_linux_amd64_v1/app", "linux/arm64": "app_linux_arm64/app", "darwin/arm64": "app_darwin_arm64/app"}
			if len(s.Assets) != len(want) {
				t.Fatalf("assets %+v", s.Assets)
			}
			for platform, name := range want {
				a := s.Assets[platform]
				body, _ := os.ReadFile(filepath.Join(dist, name))
				sum := sha256.Sum256(body)
				if a.Name != name || a.Size != int64(len(body)) || a.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("%s: %+v", platform, a)
				}
			}
		})
	}
}

func TestPublishRefusals(t *testing.T) {
	needMinisign(t)
	keys := t.TempDir()
	pub, sec := filepath.Join(keys, "k.pub"), filepath.Join(keys, "k.key")
	minisignCmd(t, "pw\npw\n", "-G", "-p", pub, "-s", sec)
	dist := goreleaserDist(t)
	t.Setenv("MINISIGN_PASSWORD", "wrong")
	if err := run([]string{"-key", sec, "-version", "v1", "-dist", dist}); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("wrong password: %v", err)
	}
	os.Unsetenv("MINISIGN_PASSWORD")
	if err := run([]string{"-key", sec, "-version", "v1", "-dist", dist}); err == nil || !strings.Contains(err.Error(), "MINISIGN_PASSWORD") {
		t.Fatalf("no password: %v", err)
	}
	if err := run([]string{"-key", sec, "-W", "-version", "v1", "-dist", dist}); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("-W with an encrypted key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dist, "manifest.json")); err == nil {
		t.Fatal("a manifest was written without a key")
	}
	plainPub, plain := filepath.Join(keys, "w.pub"), filepath.Join(keys, "w.key")
	minisignCmd(t, "", "-G", "-W", "-p", plainPub, "-s", plain)
	if err := run([]string{"-key", plain, "-version", "v1", "-dist", dist, "-percent", "0.001"}); err == nil || !strings.Contains(err.Error(), "finer than 0.01") {
		t.Fatalf("a percentage finer than 0.01: %v", err)
	}
	if err := run([]string{"-key", plain, "-version", "v1", "-dist", t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no NAME_OS_ARCH") {
		t.Fatalf("an empty dist: %v", err)
	}
}

func TestPlatformOf(t *testing.T) {
	for dir, want := range map[string]string{
		"app_linux_amd64_v1":           "linux/amd64",
		"my_app_darwin_arm64":          "darwin/arm64",
		"app_windows_386_sse2":         "windows/386",
		"app_linux_arm_7":              "linux/arm",
		"app_linux_mips64le_hardfloat": "linux/mips64le",
		"config":                       "",
		"app_linux":                    "",
	} {
		got, _ := platformOf(dir)
		if got != want {
			t.Errorf("platformOf(%q) = %q, want %q", dir, got, want)
		}
	}
}
