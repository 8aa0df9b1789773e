package overseer_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The integration tests build testdata/app in several variants and run
// them as real processes on real sockets on 127.0.0.1.

// binDir holds the built variants for the whole test run.
var binDir string

// runDir holds the directory of every process a test starts, for this
// test run only: the leftover check looks for processes there and nowhere
// else, so test runs side by side (a CI job and a developer's) never
// count, or kill, each other's processes.
var runDir string

// variants are the builds of testdata/app, by name: "-X main.version=… -X main.mode=…".
var variants = map[string][2]string{
	"v1":          {"v1", ""},
	"v2":          {"v2", ""},
	"v3":          {"v3", ""},
	"crash":       {"crash", "crash"},
	"noready":     {"noready", "noready"},
	"failcheck":   {"failcheck", "failcheck"},
	"hangcheck":   {"hangcheck", "hangcheck"},
	"noisy":       {"noisy", "noisy"},
	"crashlater":  {"crashlater", "crashlater"},
	"unhealthy":   {"unhealthy", "unhealthy"},
	"masterpanic": {"masterpanic", "masterpanic"},
	"addrs":       {"addrs", "addrs"},
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "overseer-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if runDir, err = os.MkdirTemp("", "overseer-it-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(binDir)
		os.Exit(1)
	}
	code := 1
	if err := buildVariants(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if left := leftoverProcesses(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: processes left behind by the tests: %v\n", left)
		code = 1
	}
	os.RemoveAll(binDir)
	os.RemoveAll(runDir)
	os.Exit(code)
}

// serviceDir makes a directory for a test's processes under runDir,
// removed when the test ends. Keep prefix short: Unix socket paths inside
// it must fit in 108 bytes.
func serviceDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp(runDir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// buildVariants builds every variant of the test program into dir.
func buildVariants(dir string) error {
	// A good binary for another architecture must fail the sanity check.
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "otherarch"), "./testdata/app")
	cmd.Env = append(os.Environ(), "GOARCH="+other)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build otherarch: %v\n%s", err, out)
	}
	for name, v := range variants {
		args := []string{"build", "-o", filepath.Join(dir, name), "-ldflags", "-X main.version=" + v[0] + " -X main.mode=" + v[1]}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./testdata/app")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
	}
	return nil
}

// leftoverProcesses lists, and kills, live processes running a binary from
// this run's runDir (a test that forgot one, or a child that outlived its
// master).
func leftoverProcesses() []string {
	var left []string
	for _, pid := range runningFrom(runDir) {
		exe, _ := proc(pid).exe()
		left = append(left, fmt.Sprintf("%d:%s", pid, exe))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return left
}

// smallDisk mounts a tmpfs of size bytes at dir, unmounted when the test
// ends (after the service is gone: cleanups run in reverse order).
func smallDisk(t *testing.T, dir string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small file system")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("mount a %d-byte tmpfs at %s: %v", size, dir, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// resizeDisk changes the size of a file system made by smallDisk.
func resizeDisk(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("resize the tmpfs at %s to %d bytes: %v", dir, size, err)
	}
}

// fileSize returns the size of path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// waitGone waits for pid to exit and returns how long that took.
func waitGone(t *testing.T, pid int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if waitUntil(timeout, func() bool { return !pidAlive(pid) }) {
		return time.Since(start)
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT) // its goroutine dump lands in the service log
	time.Sleep(300 * time.Millisecond)
	t.Fatalf("process %d still alive after %s", pid, timeout)
	return 0
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// copyFile copies src to dst as an executable.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// fileHash returns the SHA-256 of a file, hex.
func fileHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
