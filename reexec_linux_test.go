package overseer_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The master's re-exec with real processes: after each proven upgrade the
// master runs the new binary under the same PID and adopts the running
// child; a binary whose master start-up fails is refused and changes
// nothing; an operator's signal re-executes it on a binary replaced by
// hand.

// TestMasterReexecUpgrades: 20 upgrades in a row under 32 keep-alive
// clients plus 4 clients on fresh connections: no request fails, the
// master's PID never changes, after each upgrade its /proc/PID/exe is the
// binary on disk (not "(deleted)"), and its descriptor count and memory
// stay flat. Logs the time the master is away in each re-exec and the
// latency of requests made meanwhile.
func TestMasterReexecUpgrades(t *testing.T) {
	const upgrades = 20
	events := filepath.Join(t.TempDir(), "events")
	s := startService(t, options{watch: true, env: []string{"APP_PROBATION=200ms", "APP_EVENTS_FILE=" + events}})
	master := s.cmd.Process.Pid
	l := startLoad(s.addr, 32, true, "/", 120*time.Second)
	p := startProbe(s.addr, 4, 120*time.Second)
	var fds, rss []int
	for i := 1; i <= upgrades; i++ {
		variant := []string{"v3", "v2"}[i%2]
		s.publish(variant)
		waitFor(t, 20*time.Second, fmt.Sprintf("re-exec %d", i), func() bool {
			return strings.Count(s.log(), "child adopted") >= i
		})
		if r := s.mustGet("/"); r.version != variant {
			t.Fatalf("upgrade %d: serving %s, want %s", i, r.version, variant)
		}
		exe, err := proc(master).exe()
		if err != nil || exe != s.bin {
			t.Fatalf("upgrade %d: /proc/%d/exe = %q (%v), want %s", i, master, exe, err, s.bin)
		}
		fds = append(fds, countFDs(t, master))
		rss = append(rss, rssKiB(t, master))
	}
	l.stop()
	probes := p.stop()
	if failed, detail := l.failures(); failed > 0 {
		t.Errorf("%d requests failed across %d re-execs: %s", failed, upgrades, detail)
	}
	if failed := probes.failed(); failed > 0 {
		t.Errorf("%d fresh-connection requests failed: %v", failed, probes.errs)
	}
	if s.cmd.Process.Pid != master || !processAlive(master) {
		t.Fatalf("the master changed or died")
	}
	// Flat: the last figures against those after the second upgrade (the
	// first image is the one started by hand).
	if last, base := fds[len(fds)-1], fds[1]; last > base+1 {
		t.Errorf("master descriptors grew from %d to %d over %d re-execs: %v", base, last, upgrades, fds)
	}
	if last, base := rss[len(rss)-1], rss[1]; last > base*3/2+2048 {
		t.Errorf("master RSS grew from %d to %d KiB over %d re-execs: %v", base, last, upgrades, rss)
	}
	// OnEvent saw every proof (delivered before each exec) and every
	// re-exec (from the new image).
	kinds := strings.Join(eventKinds(events), " ")
	if n := strings.Count(kinds, "upgrade-proven"); n != upgrades {
		t.Errorf("%d upgrade-proven events, want %d", n, upgrades)
	}
	if n := strings.Count(kinds, "master-reexec"); n != upgrades {
		t.Errorf("%d master-reexec events, want %d", n, upgrades)
	}
	away := reexecAway(s.log())
	if len(away) < upgrades {
		t.Fatalf("%d re-execs logged, want %d", len(away), upgrades)
	}
	slices.Sort(away)
	ok, _ := l.counts()
	t.Logf("%d re-execs; master away: min %s, median %s, max %s", len(away), away[0], away[len(away)/2], away[len(away)-1])
	t.Logf("keep-alive clients: %d requests, 0 failed; fresh-connection clients: %s", ok, probes.describe("a re-exec", reexecWindows(s.log())))
	t.Logf("master fds after each upgrade: %v", fds)
	t.Logf("master RSS KiB after each upgrade: %v", rss)
}

// TestMasterReexecDryRunFails: the new binary serves fine as a child but
// panics when started as a master. Its dry run fails, so the master keeps
// running the old code with the same child, and stays in charge: a restart
// still works.
func TestMasterReexecDryRunFails(t *testing.T) {
	s := startService(t, options{watch: true, env: []string{"APP_PROBATION=200ms"}})
	master := s.cmd.Process.Pid
	l := startLoad(s.addr, 8, true, "/", 60*time.Second)
	s.publish("masterpanic")
	child := s.waitServing("masterpanic", 20*time.Second).pid
	s.waitLog("failed its master dry run", 20*time.Second)
	if !strings.Contains(s.log(), "panic: masterpanic") {
		t.Errorf("the dry run's panic is not in the log")
	}
	time.Sleep(500 * time.Millisecond)
	if r := s.mustGet("/"); r.pid != child {
		t.Errorf("child changed from %d to %d after the refused re-exec", child, r.pid)
	}
	if exe, _ := proc(master).exe(); !strings.HasSuffix(exe, "(deleted)") {
		t.Errorf("/proc/%d/exe = %q: the master was re-executed", master, exe)
	}
	s.signal(syscall.SIGUSR2)
	s.waitNewPid(child, 15*time.Second, "SIGUSR2 after a refused re-exec")
	l.stop()
	if failed, detail := l.failures(); failed > 0 {
		t.Errorf("%d requests failed: %s", failed, detail)
	}
	if s.cmd.Process.Pid != master || !processAlive(master) {
		t.Errorf("the master changed or died")
	}
}

// TestMasterReexecOnSignal: a binary replaced by hand, then ReexecSignal
// (SIGWINCH in the test program): the master runs it under the same PID
// without restarting the child, and the signal is not forwarded (the
// program exits 9 on a SIGWINCH). A later restart runs the new binary.
func TestMasterReexecOnSignal(t *testing.T) {
	s := startService(t, options{env: []string{"APP_REEXEC_SIGNAL=1"}})
	master := s.cmd.Process.Pid
	child := s.mustGet("/").pid
	s.replaceBinary("v2")
	for i := 1; i <= 3; i++ {
		s.signal(syscall.SIGWINCH)
		waitFor(t, 15*time.Second, fmt.Sprintf("re-exec %d", i), func() bool {
			return strings.Count(s.log(), "child adopted") >= i
		})
	}
	if r := s.mustGet("/"); r.pid != child || r.version != "v1" {
		t.Errorf("serving %s from %d after the re-exec, want v1 from the same child %d", r.version, r.pid, child)
	}
	if exe, _ := proc(master).exe(); exe != s.bin {
		t.Errorf("/proc/%d/exe = %q, want %s", master, exe, s.bin)
	}
	if r := s.restartAndWait(child); r.version != "v2" {
		t.Errorf("restart after the re-exec runs %s, want v2", r.version)
	}
	s.signal(syscall.SIGTERM)
	if code := s.wait(15 * time.Second); code != 0 {
		t.Errorf("master exited %d after SIGTERM, want 0", code)
	}
}

// TestMasterReexecAddresses: addresses cannot change across a re-exec.
// The same address written differently is logged and the inherited socket
// keeps serving; another number of addresses fails the dry run, and the
// master is not re-executed.
func TestMasterReexecAddresses(t *testing.T) {
	t.Run("changed", func(t *testing.T) {
		s := startService(t, options{env: []string{"APP_REEXEC_SIGNAL=1"}})
		child := s.mustGet("/").pid
		s.replaceBinary("addrs")
		s.signal(syscall.SIGWINCH)
		s.waitLog("child adopted", 15*time.Second)
		s.waitLog("Config.Addresses changed across the master's re-exec; the inherited socket keeps serving", time.Second)
		if r := s.restartAndWait(child); r.version != "addrs" {
			t.Errorf("serving %s after a restart, want the new binary", r.version)
		}
	})
	t.Run("added", func(t *testing.T) {
		s := startService(t, options{env: []string{"APP_REEXEC_SIGNAL=1", "APP_SECOND_ADDR=127.0.0.1:0"}})
		master := s.cmd.Process.Pid
		child := s.mustGet("/").pid
		s.replaceBinary("addrs")
		s.signal(syscall.SIGWINCH)
		s.waitLog("addresses cannot change across a re-exec", 15*time.Second)
		if r := s.mustGet("/"); r.pid != child {
			t.Errorf("child changed from %d to %d", child, r.pid)
		}
		if exe, _ := proc(master).exe(); exe == s.bin {
			t.Errorf("the master was re-executed")
		}
	})
}

// TestMasterReexecKilled: after re-execs, with an adopted child and one the
// new image started, SIGKILL of the master still takes the child down
// (its parent-death signal is tied to the thread every image starts
// children from, and no re-exec fired it).
func TestMasterReexecKilled(t *testing.T) {
	s := startService(t, options{env: []string{"APP_REEXEC_SIGNAL=1"}})
	first := s.mustGet("/").pid
	s.signal(syscall.SIGWINCH)
	s.waitLog("child adopted", 15*time.Second)
	second := s.restartAndWait(first).pid
	s.signal(syscall.SIGWINCH)
	waitFor(t, 15*time.Second, "the second re-exec", func() bool { return strings.Count(s.log(), "child adopted") >= 2 })
	if r := s.mustGet("/"); r.pid != second {
		t.Fatalf("serving from %d after the re-exec, want the same child %d", r.pid, second)
	}
	if err := syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, second, 15*time.Second)
}

// rssKiB returns pid's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	v, err := proc(pid).status("VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v, " kB"))
	if err != nil {
		t.Fatalf("VmRSS %q: %v", v, err)
	}
	return n
}

var (
	awayRE  = regexp.MustCompile(`child adopted.* away=(\S+)`)
	timeRE  = regexp.MustCompile(`^time=(\S+) `)
	beginRE = regexp.MustCompile(`msg="re-executing the master"`)
)

// reexecAway returns the "away" of every re-exec in a service log.
func reexecAway(log string) []time.Duration {
	var out []time.Duration
	for _, m := range awayRE.FindAllStringSubmatch(log, -1) {
		if d, err := time.ParseDuration(m[1]); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// reexecWindows returns, from a service log, when each re-exec began and
// when the new image had adopted the child.
func reexecWindows(log string) [][2]time.Time {
	var out [][2]time.Time
	var begun time.Time
	for _, line := range strings.Split(log, "\n") {
		m := timeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		switch {
		case beginRE.MatchString(line):
			begun = at
		case strings.Contains(line, "child adopted") && !begun.IsZero():
			out = append(out, [2]time.Time{begun, at})
			begun = time.Time{}
		}
	}
	return out
}

// probe is a set of clients that each send GETs one after another, each
// on a fresh connection, and record when each was sent and how long it
// took: the connection itself goes through the socket's accept queue,
// which is what a master away would show.
type probe struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	reqs  []probeReq
	errs  []string
}

type probeReq struct {
	at  time.Time
	dur time.Duration
}

func startProbe(addr string, workers int, maxDuration time.Duration) *probe {
	p := &probe{stopc: make(chan struct{})}
	deadline := time.Now().Add(maxDuration)
	for i := 0; i < workers; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for time.Now().Before(deadline) {
				select {
				case <-p.stopc:
					return
				default:
				}
				at := time.Now()
				resp, err := client.Get("http://" + addr + "/")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				p.mu.Lock()
				if err != nil {
					p.errs = append(p.errs, err.Error())
				} else {
					p.reqs = append(p.reqs, probeReq{at: at, dur: time.Since(at)})
				}
				p.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return p
}

// stop ends the probe and returns it for reading.
func (p *probe) stop() *probe {
	close(p.stopc)
	p.wg.Wait()
	return p
}

func (p *probe) failed() int { return len(p.errs) }

// describe summarises the latencies of all requests and of those that
// overlapped one of windows, which are what label names.
func (p *probe) describe(label string, windows [][2]time.Time) string {
	var all, during []time.Duration
	for _, r := range p.reqs {
		all = append(all, r.dur)
		for _, w := range windows {
			if r.at.Before(w[1]) && r.at.Add(r.dur).After(w[0]) {
				during = append(during, r.dur)
				break
			}
		}
	}
	q := func(d []time.Duration) string {
		if len(d) == 0 {
			return "none"
		}
		slices.Sort(d)
		return fmt.Sprintf("%d requests, median %s, p99 %s, max %s", len(d), d[len(d)/2].Round(time.Microsecond), d[len(d)*99/100].Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
	}
	return fmt.Sprintf("%d failed; all: %s; overlapping %s (%d): %s", len(p.errs), q(all), label, len(windows), q(during))
}

// TestReleasePublishedDuringReexecIsNotLost: a release written to the
// watched path just before the master re-executes, which the old image's
// fetcher has not polled yet, is installed by the new image: its
// fetcher.File resumes from the old one's checkpoint instead of taking
// the file for its baseline. Three rounds, so that a re-exec lands in the
// window between two polls.
func TestReleasePublishedDuringReexecIsNotLost(t *testing.T) {
	s := startService(t, options{watch: true, env: []string{"APP_REEXEC_SIGNAL=1", "APP_PROBATION=-1s"}})
	for i, v := range []string{"v2", "v3", "v2"} {
		master := s.cmd.Process.Pid
		s.publish(v)
		s.signal(syscall.SIGWINCH)
		s.waitServing(v, 20*time.Second)
		if s.cmd.Process.Pid != master {
			t.Fatalf("round %d: the master changed", i)
		}
	}
}
