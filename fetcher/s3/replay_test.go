package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-710818af/overseer"
)

// TestReplayedOlderReleaseOverS3: a real service upgraded from versitygw
// with a minisign public key installs a signed release, then refuses the
// older release published again with its original, valid signature.
func TestReplayedOlderReleaseOverS3(t *testing.T) {
	if !overseer.IsSupported() {
		t.Skip("overseer runs in-process on this platform: no upgrades")
	}
	minisign, err := exec.LookPath("minisign")
	if err != nil {
		if os.Getenv("OVERSEER_REQUIRE_ALL") == "1" {
			t.Fatal("minisign not found: run scripts/install-test-deps.sh (Debian package minisign)")
		}
		t.Skip("minisign not found: run scripts/install-test-deps.sh")
	}
	gw := startVersityGW(t)
	gw.mkBucket(t, "releases")

	dir := t.TempDir()
	build := func(version string) []byte {
		out := filepath.Join(dir, version)
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", out, "./testdata/s3app")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", version, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v1, v2 := build("v1"), build("v2")
	pub, sec := filepath.Join(dir, "key.pub"), filepath.Join(dir, "key.sec")
	if b, err := exec.Command(minisign, "-G", "-W", "-p", pub, "-s", sec).CombinedOutput(); err != nil {
		t.Fatalf("minisign -G: %v\n%s", err, b)
	}
	sign := func(version string) []byte {
		if b, err := exec.Command(minisign, "-S", "-s", sec, "-m", filepath.Join(dir, version), "-x", filepath.Join(dir, version+".minisig")).CombinedOutput(); err != nil {
			t.Fatalf("minisign -S: %v\n%s", err, b)
		}
		b, err := os.ReadFile(filepath.Join(dir, version+".minisig"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sigV1 := sign("v1")
	time.Sleep(1100 * time.Millisecond) // minisign timestamps are in seconds
	sigV2 := sign("v2")
	publish := func(bin, sig []byte) {
		gw.put(t, "releases", "app.minisig", sig)
		gw.put(t, "releases", "app", bin)
	}
	publish(v2, sigV2)

	// The service starts on v1 and upgrades to v2.
	svc := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(svc, v1, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(dir, "service.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(svc)
	cmd.Env = append(os.Environ(), "APP_ADDR="+addr, "APP_PUBLIC_KEY="+string(key),
		"APP_S3_ACCESS="+testAccess, "APP_S3_SECRET="+testSecret, "APP_S3_ENDPOINT="+gw.Endpoint,
		"APP_S3_BUCKET=releases", "APP_S3_KEY=app")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("master %d did not exit after SIGKILL", cmd.Process.Pid)
		}
		for i := 0; i < 100 && syscall.Kill(-cmd.Process.Pid, 0) == nil; i++ {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			time.Sleep(50 * time.Millisecond)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("service log:\n%s", b)
		}
	})
	serving := func() string {
		c := http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}}
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Fields(string(b) + " ")[0]
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-done:
				t.Fatalf("the service exited while waiting for %s", what)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitUntil("v2 serving", func() bool { return serving() == "v2" })

	// The replay: v1 with its original signature.
	publish(v1, sigV1)
	waitUntil("the refusal", func() bool {
		b, _ := os.ReadFile(logPath)
		return bytes.Contains(b, []byte("not newer than the installed release"))
	})
	time.Sleep(500 * time.Millisecond)
	if got := serving(); got != "v2" {
		t.Errorf("serving %q after a replayed older release, want v2", got)
	}
	if b, err := os.ReadFile(svc); err != nil || !bytes.Equal(b, v2) {
		t.Errorf("the binary on disk is not v2 after a replayed older release (%v)", err)
	}
}
