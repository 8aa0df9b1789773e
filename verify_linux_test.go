package overseer_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// minisignKey is a key pair made by the real minisign tool.
type minisignKey struct {
	public string // the .pub file's second line: what Config.PublicKey takes
	secret string // path of the secret key file
}

// newMinisignKey generates a key pair with the minisign tool. Under
// test.sh (OVERSEER_REQUIRE_ALL=1) a missing tool fails the test.
func newMinisignKey(t *testing.T) minisignKey {
	t.Helper()
	if _, err := exec.LookPath("minisign"); err != nil {
		if os.Getenv("OVERSEER_REQUIRE_ALL") != "" {
			t.Fatal("minisign not found: run scripts/install-test-deps.sh (Debian package minisign)")
		}
		t.Skip("minisign not found: run scripts/install-test-deps.sh")
	}
	dir := t.TempDir()
	pub, sec := filepath.Join(dir, "key.pub"), filepath.Join(dir, "key.sec")
	if out, err := exec.Command("minisign", "-G", "-W", "-p", pub, "-s", sec).CombinedOutput(); err != nil {
		t.Fatalf("minisign -G: %v\n%s", err, out)
	}
	b, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return minisignKey{public: strings.TrimSpace(lines[len(lines)-1]), secret: sec}
}

// sign signs a variant's binary and returns the signature file's bytes.
func (k minisignKey) sign(t *testing.T, variant string, extra ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	bin, sig := filepath.Join(dir, "bin"), filepath.Join(dir, "bin.minisig")
	copyFile(t, filepath.Join(binDir, variant), bin)
	args := append([]string{"-S", "-s", k.secret, "-m", bin, "-x", sig}, extra...)
	if out, err := exec.Command("minisign", args...).CombinedOutput(); err != nil {
		t.Fatalf("minisign -S: %v\n%s", err, out)
	}
	b, err := os.ReadFile(sig)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignedUpgrade: with a PublicKey, a binary signed by the real
// minisign tool is installed.
func TestSignedUpgrade(t *testing.T) {
	key := newMinisignKey(t)
	mark := filepath.Join(t.TempDir(), "executed")
	s := startService(t, options{watch: true, env: []string{"APP_PUBLIC_KEY=" + key.public, "APP_EXEC_MARK=" + mark}})
	s.publishSigned("v2", key.sign(t, "v2"))
	s.waitServing("v2", 20*time.Second)
	s.waitLog("verified=true", 5*time.Second)
	if b, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(b)) != "v2" {
		t.Errorf("the sanity check of the verified binary left no mark (%q, %v)", b, err)
	}
}

// TestUnverifiedBinariesAreNeverRun: each kind of bad signature is
// rejected before the binary is executed, even for the sanity check.
func TestUnverifiedBinariesAreNeverRun(t *testing.T) {
	key := newMinisignKey(t)
	other := newMinisignKey(t)
	cases := []struct {
		name string
		sig  func() []byte
		log  string
	}{
		{"missing", func() []byte { return nil }, "no signature was published"},
		{"malformed", func() []byte { return []byte("untrusted comment: x\nnot base64 at all\n") }, "malformed"},
		{"other-key", func() []byte { return other.sign(t, "v2") }, "signed by key"},
		{"other-bytes", func() []byte { return key.sign(t, "v3") }, "does not match the binary"},
		{"legacy", func() []byte { return key.sign(t, "v2", "-l") }, "legacy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mark := filepath.Join(t.TempDir(), "executed")
			s := startService(t, options{watch: true, env: []string{"APP_PUBLIC_KEY=" + key.public, "APP_EXEC_MARK=" + mark}})
			v1 := fileHash(t, s.bin)
			s.publishSigned("v2", c.sig())
			s.waitLog(c.log, 20*time.Second)
			time.Sleep(200 * time.Millisecond)
			if got := fileHash(t, s.bin); got != v1 {
				t.Errorf("binary on disk changed")
			}
			if r := s.mustGet("/"); r.version != "v1" {
				t.Errorf("serving %s after a rejected upgrade", r.version)
			}
			if _, err := os.Stat(mark); err == nil {
				t.Errorf("the unverified binary was executed (sanity check)")
			}
			if strings.Contains(s.log(), "restart begun") {
				t.Errorf("the unverified binary was started as a child")
			}
			assertNoStagingFiles(t, s.dir)
		})
	}
}

// TestRejectedSignatureIsQuarantined: a binary whose signature does not
// match is not applied again when offered again; a good one after it is.
func TestRejectedSignatureIsQuarantined(t *testing.T) {
	key := newMinisignKey(t)
	s := startService(t, options{watch: true, env: []string{"APP_PUBLIC_KEY=" + key.public}})
	s.publishSigned("v2", key.sign(t, "v3"))
	s.waitLog("does not match the binary", 20*time.Second)
	now := time.Now()
	if err := os.Chtimes(filepath.Join(s.dir, "next"), now, now); err != nil {
		t.Fatal(err)
	}
	s.waitLog("quarantined; skipping", 20*time.Second)
	s.publishSigned("v3", key.sign(t, "v3"))
	s.waitServing("v3", 20*time.Second)
}
