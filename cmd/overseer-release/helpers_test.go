package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/manifest"
)

// fixtures is a directory shared by the package's tests for what is slow
// to make: the encrypted key (the minisign tool spends seconds on its
// scrypt) and the built command.
var fixtures string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "overseer-release-test-")
	if err != nil {
		panic(err)
	}
	fixtures = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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

// minisignOut runs the minisign tool with stdin and returns its output.
func minisignOut(stdin string, args ...string) ([]byte, error) {
	cmd := exec.Command("minisign", args...)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd.CombinedOutput()
}

// minisignCmd runs the minisign tool with stdin.
func minisignCmd(t *testing.T, stdin string, args ...string) {
	t.Helper()
	if out, err := minisignOut(stdin, args...); err != nil {
		t.Fatalf("minisign %v: %v\n%s", args, err, out)
	}
}

// keyFiles are a minisign key pair's files.
type keyFiles struct{ pub, sec string }

// plainKey makes a key pair with "minisign -G -W" (not encrypted: no
// scrypt, so it costs nothing), for the tests that are not about
// encrypted keys.
func plainKey(t *testing.T) keyFiles {
	t.Helper()
	needMinisign(t)
	dir := t.TempDir()
	k := keyFiles{filepath.Join(dir, "k.pub"), filepath.Join(dir, "k.key")}
	minisignCmd(t, "", "-G", "-W", "-p", k.pub, "-s", k.sec)
	return k
}

// encryptedPassword is the password of encryptedKey.
const encryptedPassword = "s3cret"

var (
	encryptedOnce sync.Once
	encrypted     keyFiles
	encryptedErr  error
)

// encryptedKey returns the package's one key made with "minisign -G",
// encrypted with encryptedPassword.
func encryptedKey(t *testing.T) keyFiles {
	t.Helper()
	needMinisign(t)
	encryptedOnce.Do(func() {
		k := keyFiles{filepath.Join(fixtures, "enc.pub"), filepath.Join(fixtures, "enc.key")}
		pw := encryptedPassword + "\n"
		if out, err := minisignOut(pw+pw, "-G", "-p", k.pub, "-s", k.sec); err != nil {
			encryptedErr = &cmdError{err, out}
			return
		}
		encrypted = k
	})
	if encryptedErr != nil {
		t.Fatalf("minisign -G: %v", encryptedErr)
	}
	return encrypted
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// releaseCommand builds the command once, without the race detector, for
// the tests that decrypt a key: scrypt over 1 GiB takes seconds natively
// and tens of seconds under -race.
func releaseCommand(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		bin := filepath.Join(fixtures, "overseer-release")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			buildErr = &cmdError{err, out}
			return
		}
		built = bin
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return built
}

// cmdError is a command's failure with its output.
type cmdError struct {
	err error
	out []byte
}

func (e *cmdError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// runBuilt runs the built command with password in $MINISIGN_PASSWORD
// (none if empty), bounded by a timeout.
func runBuilt(t *testing.T, password string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(releaseCommand(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINISIGN_PASSWORD=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if password != "" {
		cmd.Env = append(cmd.Env, "MINISIGN_PASSWORD="+password)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish in 2 minutes", args)
	}
	return out.String(), errb.String(), err
}

// runIn runs the command in this process and returns what it printed.
func runIn(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = run(args, &out, &errb)
	return out.String(), errb.String(), err
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

// verified reads dir/manifest.json and its signature and verifies them
// with the public key file pub, as a host does.
func verified(t *testing.T, pub, dir string) *manifest.Signed {
	t.Helper()
	pubText, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	key, err := manifest.ParsePublicKey(string(pubText))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(filepath.Join(dir, "manifest.json.minisig"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := manifest.Verify(key, data, sig)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fileHost is a fleet host polling a manifest through fetcher.File, as a
// service's master would, that records its decisions.
type fileHost struct {
	*fetcher.Manifest
	mu        sync.Mutex
	decisions []fetcher.Decision
}

// newFileHost starts a host on the manifest at path, trusting pubText,
// running nothing yet on platform.
func newFileHost(t *testing.T, path, pubText, platform string) *fileHost {
	t.Helper()
	h := &fileHost{}
	h.Manifest = &fetcher.Manifest{
		Source:    &fetcher.File{Path: path},
		PublicKey: pubText,
		HostID:    "host-1", HostName: "host-1", Platform: platform,
		Running:   strings.Repeat("0", 64),
		StateFile: os.DevNull,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnDecision: func(d fetcher.Decision) {
			h.mu.Lock()
			h.decisions = append(h.decisions, d)
			h.mu.Unlock()
		},
	}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	return h
}

// decided returns the decisions since the last forget.
func (h *fileHost) decided() []fetcher.Decision {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]fetcher.Decision(nil), h.decisions...)
}

// forget drops the decisions recorded so far.
func (h *fileHost) forget() {
	h.mu.Lock()
	h.decisions = nil
	h.mu.Unlock()
}
