package overseer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The socket-kind tests run testdata/sockapp: HTTP on every stream
// listener, a datagram echo ("<pid> <payload>") on every packet conn.

var (
	sockAppOnce sync.Once
	sockAppErr  error
)

// sockApp builds testdata/sockapp into binDir once, as variant "sockapp".
func sockApp(t *testing.T) {
	t.Helper()
	sockAppOnce.Do(func() {
		args := []string{"build", "-o", filepath.Join(binDir, "sockapp")}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "./testdata/sockapp")...).CombinedOutput()
		if err != nil {
			sockAppErr = fmt.Errorf("build sockapp: %v\n%s", err, out)
		}
	})
	if sockAppErr != nil {
		t.Fatal(sockAppErr)
	}
}

// startSockApp runs sockapp with HTTP on a free TCP port plus extra
// Config.Addresses entries.
func startSockApp(t *testing.T, extra ...string) *service {
	t.Helper()
	sockApp(t)
	return startService(t, options{variant: "sockapp", env: []string{"APP_EXTRA=" + strings.Join(extra, ",")}})
}

// unixClient is an HTTP client that dials the Unix socket at path.
func unixClient(path string, keepAlive bool) *http.Client {
	tr := &http.Transport{
		DisableKeepAlives: !keepAlive,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// getPid GETs "/" with client and returns the answering pid.
func getPid(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var version string
	var pid int
	if _, err := fmt.Sscanf(string(body), "%s %d", &version, &pid); err != nil {
		return 0, fmt.Errorf("bad body %q", body)
	}
	return pid, nil
}

// TestUnixSocketRestart restarts a service on a Unix socket under load:
// no request fails, the socket file exists throughout, and it is removed
// when the service stops.
func TestUnixSocketRestart(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	s := startSockApp(t, "unix://"+sock)
	pid0, err := getPid(unixClient(sock, false), "http://app/")
	if err != nil {
		t.Fatalf("GET over %s: %v", sock, err)
	}

	// Watch the socket file and run clients until told to stop.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var missing atomic.Int64
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := os.Lstat(sock); err != nil {
				missing.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(keepAlive bool) {
			defer wg.Done()
			client := unixClient(sock, keepAlive)
			defer client.CloseIdleConnections()
			for ctx.Err() == nil {
				if _, err := getPid(client, "http://app/"); err != nil {
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}(i%2 == 0)
	}

	pid := pid0
	for round := 0; round < 3; round++ {
		time.Sleep(200 * time.Millisecond)
		s.signal(syscall.SIGUSR2)
		waitFor(t, 15*time.Second, fmt.Sprintf("a new child after SIGUSR2 (round %d)", round), func() bool {
			p, err := getPid(unixClient(sock, false), "http://app/")
			if err == nil && p != pid {
				pid = p
				return true
			}
			return false
		})
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	t.Logf("unix socket, 3 restarts under load: %d requests ok, %d failed, socket file missing in %d checks", ok.Load(), failed.Load(), missing.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed: %v", failed.Load(), failures[:min(len(failures), 5)])
	}
	if missing.Load() > 0 {
		t.Errorf("the socket file was missing during %d checks", missing.Load())
	}
	if ok.Load() == 0 {
		t.Error("no request succeeded")
	}

	s.signal(syscall.SIGTERM)
	if code := s.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after stop: %v, want it removed", err)
	}
}

// TestUnixSocketMode: "?mode=" gives the socket file exactly those
// permission bits whatever the umask, the file stays the same across a
// restart, and the master's umask is what it was.
func TestUnixSocketMode(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	s := func() *service {
		old := syscall.Umask(0) // the widest umask: any bit not asked for would show
		defer syscall.Umask(old)
		return startSockApp(t, "unix://"+sock+"?mode=0620")
	}()
	fi0, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi0.Mode().Perm() != 0o620 {
		t.Errorf("socket file mode %o, want 620", fi0.Mode().Perm())
	}
	if umask, err := proc(s.cmd.Process.Pid).status("Umask"); err != nil || umask != "0000" {
		t.Errorf("the master's umask is %q (%v), want 0000 as started", umask, err)
	}
	pid, err := getPid(unixClient(sock, false), "http://app/")
	if err != nil {
		t.Fatalf("GET over %s: %v", sock, err)
	}
	s.restartAndWait(pid)
	waitGone(t, pid, 15*time.Second)
	if p, err := getPid(unixClient(sock, false), "http://app/"); err != nil || p == pid {
		t.Errorf("after the restart: pid %d (old %d), %v", p, pid, err)
	}
	fi1, err := os.Stat(sock)
	if err != nil || !os.SameFile(fi0, fi1) || fi1.Mode() != fi0.Mode() {
		t.Errorf("socket file changed across a restart: %v, then %v (%v)", fi0, fi1, err)
	}
}

// staleSocket leaves a Unix socket file nobody listens on, as a crashed
// process does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
}

// runToFailure runs sockapp with extra addresses, expecting it to refuse to
// start, and returns its output.
func runToFailure(t *testing.T, extra string) string {
	t.Helper()
	sockApp(t)
	bin := filepath.Join(serviceDir(t, "fail-"), "app")
	copyFile(t, filepath.Join(binDir, "sockapp"), bin)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "APP_ADDR="+freeAddr(t), "APP_EXTRA="+extra, "GORACE=atexit_sleep_ms=50")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the service started (or hung) on %s\n%s", extra, out)
	}
	if err == nil {
		t.Fatalf("the service exited 0 on %s\n%s", extra, out)
	}
	return string(out)
}

// TestUnixSocketStale starts on a socket file a crashed process left, and
// refuses a path something listens on or that is not a socket.
func TestUnixSocketStale(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "stale.sock")
	staleSocket(t, sock)
	s := startSockApp(t, "unix:"+sock)
	if _, err := getPid(unixClient(sock, false), "http://app/"); err != nil {
		t.Fatalf("GET over the replaced stale socket: %v\n%s", err, s.log())
	}

	// The service itself now listens there: a second one must not steal it.
	out := runToFailure(t, "unix:"+sock)
	if !strings.Contains(out, "another process is listening on "+sock) {
		t.Errorf("second service on a live socket said:\n%s", out)
	}
	if _, err := getPid(unixClient(sock, false), "http://app/"); err != nil {
		t.Errorf("first service no longer answers after the second one's attempt: %v", err)
	}

	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = runToFailure(t, "unix:"+plain)
	if !strings.Contains(out, "not a socket") {
		t.Errorf("service on a regular file said:\n%s", out)
	}
	if b, err := os.ReadFile(plain); err != nil || string(b) != "keep me" {
		t.Errorf("the regular file was touched: %q %v", b, err)
	}
}

// udpReply is one echo received by udpProbe.
type udpReply struct {
	pid int
	seq int
	at  time.Time
}

// udpProbe sends numbered datagrams to addr every interval and records the
// replies.
type udpProbe struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	sent    int
	replies []udpReply
	stop    chan struct{}
	sender  sync.WaitGroup
	reader  sync.WaitGroup
}

func startUDPProbe(t *testing.T, addr string, interval time.Duration) *udpProbe {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	p := &udpProbe{conn: conn, stop: make(chan struct{})}
	p.reader.Add(1)
	p.sender.Add(1)
	go func() {
		defer p.reader.Done()
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ECONNREFUSED from an ICMP error, for example
			}
			var r udpReply
			if _, err := fmt.Sscanf(string(buf[:n]), "%d seq%d", &r.pid, &r.seq); err == nil {
				r.at = time.Now()
				p.mu.Lock()
				p.replies = append(p.replies, r)
				p.mu.Unlock()
			}
		}
	}()
	go func() {
		defer p.sender.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			p.mu.Lock()
			p.sent++
			p.mu.Unlock()
			_, _ = conn.Write([]byte(fmt.Sprintf("seq%d", seq)))
		}
	}()
	return p
}

// finish stops sending, waits up to wait for late replies, and closes.
func (p *udpProbe) finish(wait time.Duration) (sent int, replies []udpReply) {
	close(p.stop)
	p.sender.Wait() // nothing is sent after this
	waitUntil(wait, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.replies) >= p.sent
	})
	p.conn.Close()
	p.reader.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, append([]udpReply(nil), p.replies...)
}

// TestUDPEchoRestart sends datagrams through a restart: every one is
// answered, and the new child takes over the socket.
func TestUDPEchoRestart(t *testing.T) {
	s := startSockApp(t, "udp://127.0.0.1:0")
	addr := s.addrOf("udp")
	old := s.mustGet("/").pid
	probe := startUDPProbe(t, addr, time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	signalled := time.Now()
	s.signal(syscall.SIGUSR2)
	s.waitServing("vsock", 15*time.Second)
	s.waitNewPid(old, 15*time.Second, "SIGUSR2")
	waitGone(t, old, 15*time.Second)
	time.Sleep(200 * time.Millisecond)
	sent, replies := probe.finish(3 * time.Second)

	var firstNew, lastOld time.Time
	var maxGap time.Duration
	seen := map[int]bool{}
	for i, r := range replies {
		seen[r.seq] = true
		if r.pid == old && r.at.After(lastOld) {
			lastOld = r.at
		}
		if r.pid != old && firstNew.IsZero() {
			firstNew = r.at
		}
		if i > 0 && r.at.After(signalled) {
			maxGap = max(maxGap, r.at.Sub(replies[i-1].at))
		}
	}
	lost := sent - len(seen)
	t.Logf("UDP across a restart: %d sent, %d answered, %d lost; first answer from the new child %s after SIGUSR2, last from the old one %s after; longest gap between answers %s",
		sent, len(seen), lost, firstNew.Sub(signalled).Round(time.Millisecond), lastOld.Sub(signalled).Round(time.Millisecond), maxGap.Round(time.Millisecond))
	if firstNew.IsZero() {
		t.Fatal("the new child answered no datagram")
	}
	if lost > 0 {
		t.Errorf("%d of %d datagrams were not answered", lost, sent)
	}
}

// TestPortZeroRestart: ports the kernel chose for ":0" addresses stay the
// same across a restart, and the program sees them.
func TestPortZeroRestart(t *testing.T) {
	s := startSockApp(t, "127.0.0.1:0", "udp://127.0.0.1:0")
	before := s.addrs()
	if len(before) != 3 || strings.HasSuffix(before[1], ":0") || strings.HasSuffix(before[2], ":0") {
		t.Fatalf("addresses %v: want three, none with port 0", before)
	}
	tcp0 := strings.TrimPrefix(before[1], "tcp ")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	pid, err := getPid(client, "http://"+tcp0+"/")
	if err != nil {
		t.Fatalf("GET on the port-0 listener %s: %v", tcp0, err)
	}
	s.restartAndWait(pid)
	waitGone(t, pid, 15*time.Second) // the old child accepts until it is told to drain
	after := s.addrs()
	if strings.Join(before, ",") != strings.Join(after, ",") {
		t.Errorf("addresses changed across a restart: %v, then %v", before, after)
	}
	if p, err := getPid(client, "http://"+tcp0+"/"); err != nil || p == pid {
		t.Errorf("port-0 listener after the restart: pid %d (old %d), %v", p, pid, err)
	}
	t.Logf("port-0 addresses kept across a restart: %v", after)
}
