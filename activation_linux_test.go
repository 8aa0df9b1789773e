package overseer_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startActivated plays systemd's part: it starts sockapp with files as
// descriptors 3 and up and LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES set.
// LISTEN_PID must be the service's own pid, so a shell sets it to its
// own ($$) and execs the binary, which keeps the pid.
func startActivated(t *testing.T, addr string, extra string, names string, files ...*os.File) *service {
	t.Helper()
	sockApp(t)
	dir := serviceDir(t, "act-")
	s := &service{t: t, dir: dir, bin: filepath.Join(dir, "app"), addr: addr, logPath: filepath.Join(dir, "log"), done: make(chan struct{})}
	copyFile(t, filepath.Join(binDir, "sockapp"), s.bin)
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0"`, s.bin)
	cmd.Env = append(s.env(), "APP_EXTRA="+extra, "LISTEN_FDS="+strconv.Itoa(len(files)), "LISTEN_FDNAMES="+names)
	cmd.ExtraFiles = files
	s.launch(cmd)
	return s
}

// TestSocketActivation passes a TCP socket (matched by address) and a
// Unix one (matched by name) the way systemd does: the service serves on
// both without binding, hides the variables from its children, keeps the
// sockets across a restart, and leaves the Unix socket file to systemd.
func TestSocketActivation(t *testing.T) {
	tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "activated.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	tf, err := tl.File()
	if err != nil {
		t.Fatal(err)
	}
	uf, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	addr := tl.Addr().String()
	tl.Close()
	ul.Close()

	// The unix address is written differently from the socket's path, so
	// only its name can match it.
	s := startActivated(t, addr, "unix:"+filepath.Dir(sock)+"/./activated.sock?name=api", "web:api", tf, uf)
	tf.Close()
	uf.Close()

	if env := s.mustGetBody("/env"); env != "" {
		t.Errorf("the child sees socket activation variables:\n%s", env)
	}
	pid, err := getPid(unixClient(sock, false), "http://app/")
	if err != nil {
		t.Fatalf("GET over the activated unix socket: %v", err)
	}
	if !strings.Contains(s.log(), "using a socket passed by systemd") {
		t.Errorf("the log does not say the passed sockets were used")
	}
	if strings.Contains(s.log(), "not among the sockets passed by systemd") {
		t.Errorf("an address was opened although a socket was passed for it")
	}

	r := s.restartAndWait(pid)
	// Handover is ready-first: the old child accepts until it is told to
	// drain, just after the new one is ready. Check once it is gone.
	waitGone(t, pid, 15*time.Second)
	if p, err := getPid(unixClient(sock, false), "http://app/"); err != nil || p != r.pid {
		t.Errorf("unix socket after the restart: pid %d (want %d), %v", p, r.pid, err)
	}
	if env := s.mustGetBody("/env"); env != "" {
		t.Errorf("the restarted child sees socket activation variables:\n%s", env)
	}

	s.signal(syscall.SIGTERM)
	if code := s.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the activated socket's file was removed; it belongs to systemd: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts after the service stopped", addr)
	}
}

// TestSocketActivationUnmatched: an address no passed socket matches is
// opened by the master itself, with a warning, and a passed socket no
// address takes is closed.
func TestSocketActivationUnmatched(t *testing.T) {
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "spare.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	uf, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	ul.Close()
	s := startActivated(t, freeAddr(t), "", "spare", uf)
	uf.Close()
	s.waitLog("not among the sockets passed by systemd", 5*time.Second)
	s.waitLog("matches no configured address", 5*time.Second)
	if env := s.mustGetBody("/env"); env != "" {
		t.Errorf("the child sees socket activation variables:\n%s", env)
	}
}
