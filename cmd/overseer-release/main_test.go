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
)

func TestPublishVerifiesWithMinisign(t *testing.T) {
	k := plainKey(t)
	dist := goreleaserDist(t)
	stdout, stderr, err := runIn("-key", k.sec, "-W", "-version", "v1.2.3", "-dist", dist, "-binary", "app", "-percent", "12.5", "-hosts", "canary-1,canary-2", "-expires", "48h")
	if err != nil {
		t.Fatal(err)
	}
	// Build directories alone are the layout, not a mixed one to warn of.
	if strings.Contains(stderr, "level=WARN") {
		t.Errorf("a warning for a dist of build directories only:\n%s", stderr)
	}
	mf := filepath.Join(dist, "manifest.json")
	// The real tool accepts what the command signed: the manifest and
	// each binary.
	minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", mf)
	minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", filepath.Join(dist, "app_linux_arm64", "app"))

	s := verified(t, k.pub, dist)
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
	line := "published " + mf + ": version v1.2.3, rollout 12.5% + hosts canary-1,canary-2, expires " + s.Expires.Format(time.RFC3339) + ", signed " + s.SignedAt.Format(time.RFC3339) + "\n"
	if stdout != line {
		t.Errorf("summary %q, want %q", stdout, line)
	}
}

// TestEncryptedKey publishes and re-signs with a key made by "minisign -G"
// (encrypted), running the built command: decrypting it is the point, and
// scrypt under the race detector would take tens of seconds a run.
func TestEncryptedKey(t *testing.T) {
	k := encryptedKey(t)
	dist := goreleaserDist(t)
	mf := filepath.Join(dist, "manifest.json")
	if _, stderr, err := runBuilt(t, encryptedPassword, "-key", k.sec, "-version", "v1.2.3", "-dist", dist, "-percent", "10", "-expires", "48h"); err != nil {
		t.Fatalf("publish: %v\n%s", err, stderr)
	}
	minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", mf)
	minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", filepath.Join(dist, "app_darwin_arm64", "app"))
	before, _ := os.ReadFile(mf)

	_, stderr, err := runBuilt(t, "wrong", "-key", k.sec, "-resign", mf, "-percent", "50")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr, "wrong password") {
		t.Fatalf("a wrong password: %v\n%s", err, stderr)
	}
	if after, _ := os.ReadFile(mf); string(after) != string(before) {
		t.Fatal("the manifest changed although the key did not decrypt")
	}

	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(encryptedPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runBuilt(t, "", "-key", k.sec, "-password-file", pwFile, "-resign", mf, "-percent", "50")
	if err != nil {
		t.Fatalf("re-sign: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(stdout, "re-signed "+mf+": version v1.2.3, rollout 50%,") {
		t.Errorf("summary %q", stdout)
	}
	minisignCmd(t, "", "-V", "-q", "-p", k.pub, "-m", mf)
	if s := verified(t, k.pub, dist); s.Rollout == nil || s.Rollout.Percent != 50 {
		t.Errorf("re-signed rollout %+v", s.Rollout)
	}
}

func TestPublishRefusals(t *testing.T) {
	enc := encryptedKey(t)
	dist := goreleaserDist(t)
	t.Setenv("MINISIGN_PASSWORD", "")
	os.Unsetenv("MINISIGN_PASSWORD")
	if _, _, err := runIn("-key", enc.sec, "-version", "v1", "-dist", dist); err == nil || !strings.Contains(err.Error(), "MINISIGN_PASSWORD") {
		t.Fatalf("no password: %v", err)
	}
	if _, _, err := runIn("-key", enc.sec, "-W", "-version", "v1", "-dist", dist); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("-W with an encrypted key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dist, "manifest.json")); err == nil {
		t.Fatal("a manifest was written without a key")
	}
	plain := plainKey(t)
	if _, _, err := runIn("-key", plain.sec, "-W", "-version", "v1", "-dist", dist, "-percent", "0.001"); err == nil || !strings.Contains(err.Error(), "finer than 0.01") {
		t.Fatalf("a percentage finer than 0.01: %v", err)
	}
	if _, _, err := runIn("-key", plain.sec, "-W", "-version", "v1", "-dist", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no NAME_OS_ARCH") {
		t.Fatalf("an empty dist: %v", err)
	}
	if _, _, err := runIn("-key", plain.sec, "-W", "-version", "v1", "-dist", dist, "50"); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Fatalf("a stray argument: %v", err)
	}
}

func TestPlatformOf(t *testing.T) {
	for dir, want := range map[string]string{
		"app_linux_amd64_v1":           "linux/amd64",
		"my_app_darwin_arm64":          "darwin/arm64",
		"app_windows_386_sse2":         "windows/386",
		"app_linux_arm_7":              "linux/arm",
		"app_linux_mips64le_hardfloat": "linux/mips64le",
		"app_linux_armv7":              "linux/arm",
		"app_linux_amd64v3":            "linux/amd64",
		"app_linux_arm64_v8.0":         "linux/arm64",
		"config":                       "",
		"app_linux":                    "",
	} {
		got, _ := platformOf(dir)
		if got != want {
			t.Errorf("platformOf(%q) = %q, want %q", dir, got, want)
		}
	}
}
