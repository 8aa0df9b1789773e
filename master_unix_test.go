//go:build unix

package overseer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The event loop, driven in-process: children are recorded, not forked,
// and timers fire when a step says so. The binary on disk, the event sink
// and systemd's notification socket are real (files and a unixgram socket
// in the test's directory). Real-process tests (handover_test.go and
// others) cover what only real processes show.

// loopHarness is one master under test and what it did.
type loopHarness struct {
	t        *testing.T
	m        *master
	launcher *testLauncher
	timers   *testTimers
	events   []EventKind
	notified []string
	notifyRx *net.UnixConn
	done     bool
	dir      string
	running  int // health checkers started and not stopped
}

// testLauncher records children instead of starting processes.
type testLauncher struct {
	children []*childProcess
	failNext bool
}

func (l *testLauncher) launch(c *childProcess) error {
	if l.failNext {
		l.failNext = false
		return errors.New("exec: no such file")
	}
	c.proc, c.pid = &testProcess{}, 1000+c.id
	l.children = append(l.children, c)
	return nil
}

// testProcess records what the loop did to a child.
type testProcess struct {
	signals []os.Signal
	killed  bool
}

func (p *testProcess) Signal(s os.Signal) error { p.signals = append(p.signals, s); return nil }
func (p *testProcess) Kill() error              { p.killed = true; return nil }

// testTimers holds scheduled messages until a step fires them.
type testTimers struct{ scheduled []*testTimer }

type testTimer struct {
	d         time.Duration
	msg       loopMsg
	cancelled bool
	fired     bool
}

func (t *testTimers) after(d time.Duration, msg loopMsg) func() {
	tm := &testTimer{d: d, msg: msg}
	t.scheduled = append(t.scheduled, tm)
	return func() { tm.cancelled = true }
}

// newLoopHarness starts a master on a real binary file holding "v1".
func newLoopHarness(t *testing.T, configure func(*Config)) *loopHarness {
	t.Helper()
	h := newIdleLoopHarness(t, configure)
	if err := h.m.start(nil); err != nil {
		t.Fatal(err)
	}
	h.collect()
	return h
}

// newIdleLoopHarness is newLoopHarness before the master starts its
// first child.
func newIdleLoopHarness(t *testing.T, configure func(*Config)) *loopHarness {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "app")
	if err := os.WriteFile(path, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Config{Program: func(State) {}, Address: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if configure != nil {
		configure(c)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	bin, err := openBinary(path, c.Logger)
	if err != nil {
		t.Fatal(err)
	}
	h := &loopHarness{t: t, launcher: &testLauncher{}, timers: &testTimers{}, dir: dir}
	h.m = newMaster(c, c.Logger, bin)
	h.m.launcher, h.m.timers = h.launcher, h.timers
	if c.HealthCheck != nil {
		h.m.health = func(*installed) func() {
			h.running++
			return func() { h.running-- }
		}
	}
	h.m.sink = &eventSink{ch: make(chan Event, eventBacklog), log: c.Logger}
	sock := filepath.Join(dir, "notify")
	rx, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	tx, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	h.notifyRx, h.m.notify = rx, testNotifier(tx, c.Logger)
	return h
}

// step is one thing that happens to the loop, or one check of it.
type step func(h *loopHarness)

// handle gives msg to the loop and records what it reported.
func (h *loopHarness) handle(msg loopMsg) {
	h.t.Helper()
	if h.done {
		h.t.Fatalf("message %T after the loop finished", msg)
	}
	h.done = h.m.handle(msg)
	h.collect()
}

// collect drains the events and notifications the loop sent.
func (h *loopHarness) collect() {
	for {
		select {
		case e := <-h.m.sink.ch:
			h.events = append(h.events, e.Kind)
			continue
		default:
		}
		break
	}
	buf := make([]byte, 4096)
	for {
		_ = h.notifyRx.SetReadDeadline(time.Now().Add(time.Millisecond))
		n, err := h.notifyRx.Read(buf)
		if err != nil {
			return
		}
		h.notified = append(h.notified, string(buf[:n]))
	}
}

// child returns the child with sequence number id.
func (h *loopHarness) child(id int) *childProcess {
	h.t.Helper()
	for _, c := range h.launcher.children {
		if c.id == id {
			return c
		}
	}
	h.t.Fatalf("no child %d was started (started: %d)", id, len(h.launcher.children))
	return nil
}

// proc returns what the loop did to child id.
func (h *loopHarness) proc(id int) *testProcess { return h.child(id).proc.(*testProcess) }

// fire sends the first live timer whose message matches.
func (h *loopHarness) fire(what string, match func(loopMsg) bool) {
	h.t.Helper()
	for _, tm := range h.timers.scheduled {
		if !tm.cancelled && !tm.fired && match(tm.msg) {
			tm.fired = true
			h.handle(tm.msg)
			return
		}
	}
	h.t.Fatalf("no live %s timer", what)
}

// stage writes content as a staged binary next to the binary on disk.
func (h *loopHarness) stage(content string) *stagedBinary {
	h.t.Helper()
	f, err := os.CreateTemp(h.m.bin.dir, h.m.bin.pattern)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		h.t.Fatal(err)
	}
	f.Close()
	sum := sha256.Sum256([]byte(content))
	return &stagedBinary{path: f.Name(), id: hex.EncodeToString(sum[:])}
}

// Steps that happen to the loop.

func sig(s os.Signal) step { return func(h *loopHarness) { h.handle(signalMsg{sig: s}) } }
func restartReq() step     { return func(h *loopHarness) { h.handle(restartMsg{reason: "test"}) } }
func ready(id int) step    { return func(h *loopHarness) { h.handle(readyMsg{child: h.child(id)}) } }
func exit(id, code int) step {
	return func(h *loopHarness) { h.handle(exitMsg{child: h.child(id), code: code, status: "test"}) }
}
func upgrade(content string) step {
	return func(h *loopHarness) { h.handle(upgradeMsg{staged: h.stage(content)}) }
}
func watchdog() step       { return func(h *loopHarness) { h.handle(watchdogMsg{}) } }
func failNextLaunch() step { return func(h *loopHarness) { h.launcher.failNext = true } }
func readyTimeout(id int) step {
	return func(h *loopHarness) {
		h.fire(fmt.Sprintf("ReadyTimeout of child %d", id), func(m loopMsg) bool {
			r, ok := m.(readyTimeoutMsg)
			return ok && r.child.id == id
		})
	}
}
func killTimeout(id int) step {
	return func(h *loopHarness) {
		h.fire(fmt.Sprintf("TerminateTimeout of child %d", id), func(m loopMsg) bool {
			k, ok := m.(killTimeoutMsg)
			return ok && k.child.id == id
		})
	}
}

// lateKillTimeout delivers child id's kill timer even though it was
// cancelled: a timer that fired just as the child exited.
func lateKillTimeout(id int) step {
	return func(h *loopHarness) { h.handle(killTimeoutMsg{child: h.child(id), why: "late"}) }
}

// lateReadyTimeout delivers child id's ready timer even though it was
// cancelled: a timer that fired just as the child reported ready.
func lateReadyTimeout(id int) step {
	return func(h *loopHarness) { h.handle(readyTimeoutMsg{child: h.child(id)}) }
}

func crashBackoff() step {
	return func(h *loopHarness) {
		h.fire("crash restart", func(m loopMsg) bool { _, ok := m.(crashRestartMsg); return ok })
	}
}

func probationEnd() step {
	return func(h *loopHarness) {
		h.fire("probation end", func(m loopMsg) bool { _, ok := m.(probationEndMsg); return ok })
	}
}

// health delivers a health check result for the unproven release.
func health(ok bool) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if h.m.unproven == nil {
			h.t.Fatal("no release on probation to check")
		}
		var err error
		if !ok {
			err = errors.New("GET /healthz: 500 Internal Server Error")
		}
		h.handle(healthMsg{inst: h.m.unproven, err: err})
	}
}

// Checks.

// wantBackup checks the proven binary kept for rollback.
func wantBackup(content string) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if b, err := os.ReadFile(h.m.bin.backup); err != nil || string(b) != content {
			h.t.Errorf("backup %q (%v), want %q", b, err, content)
		}
	}
}

// wantProbationState checks the durable probation record, as a master
// started now would read it; content "" means none.
func wantProbationState(content string, suspended bool) step {
	return func(h *loopHarness) {
		h.t.Helper()
		s, err := openReleaseStore(h.m.bin.releases.path)
		if err != nil {
			h.t.Fatal(err)
		}
		p := s.probation()
		sum := sha256.Sum256([]byte(content))
		switch {
		case content == "" && p != nil:
			h.t.Errorf("probation record for %s, want none", short(p.ID))
		case content != "" && (p == nil || p.ID != hex.EncodeToString(sum[:]) || p.Suspended != suspended):
			h.t.Errorf("probation record %+v, want %q (suspended %v)", p, content, suspended)
		}
	}
}

func wantHealthChecks(running int) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if h.running != running {
			h.t.Errorf("%d health checkers running, want %d", h.running, running)
		}
	}
}

func wantActive(id int) step {
	return func(h *loopHarness) {
		h.t.Helper()
		switch {
		case id == 0 && h.m.active != nil:
			h.t.Errorf("active child %d, want none", h.m.active.id)
		case id != 0 && (h.m.active == nil || h.m.active.id != id):
			h.t.Errorf("active child %v, want %d", childID(h.m.active), id)
		}
	}
}

func wantPending(id int) step {
	return func(h *loopHarness) {
		h.t.Helper()
		var got *childProcess
		if h.m.pending != nil {
			got = h.m.pending.child
		}
		if (id == 0) != (got == nil) || (got != nil && got.id != id) {
			h.t.Errorf("pending child %v, want %d", childID(got), id)
		}
	}
}

func wantDraining(ids ...int) step {
	return func(h *loopHarness) {
		h.t.Helper()
		var got []int
		for c := range h.m.draining {
			got = append(got, c.id)
		}
		slices.Sort(got)
		if !slices.Equal(got, ids) {
			h.t.Errorf("draining children %v, want %v", got, ids)
		}
	}
}

func wantStarted(n int) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if got := len(h.launcher.children); got != n {
			h.t.Errorf("%d children started, want %d", got, n)
		}
	}
}

func wantSignals(id int, sigs ...os.Signal) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if got := h.proc(id).signals; !slices.Equal(got, sigs) {
			h.t.Errorf("child %d got signals %v, want %v", id, got, sigs)
		}
	}
}

func wantKilled(id int, killed bool) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if got := h.proc(id).killed; got != killed {
			h.t.Errorf("child %d killed = %v, want %v", id, got, killed)
		}
	}
}

func wantRunning() step {
	return func(h *loopHarness) {
		h.t.Helper()
		if h.done || h.m.stopping {
			h.t.Errorf("the service is stopping (done=%v), want it running", h.done)
		}
	}
}

func wantDone(code int) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if !h.done {
			h.t.Fatalf("the loop has not finished; want exit code %d", code)
		}
		if h.m.exitCode != code {
			h.t.Errorf("exit code %d, want %d", h.m.exitCode, code)
		}
	}
}

// wantEvents checks the lifecycle events since the last wantEvents.
func wantEvents(kinds ...EventKind) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if !slices.Equal(h.events, kinds) {
			h.t.Errorf("events\n got %v\nwant %v", h.events, kinds)
		}
		h.events = nil
	}
}

// wantDisk checks the binary on disk and the loop's idea of it.
func wantDisk(content string) step {
	return func(h *loopHarness) {
		h.t.Helper()
		b, err := os.ReadFile(h.m.bin.path)
		if err != nil {
			h.t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if string(b) != content || h.m.bin.currentID() != hex.EncodeToString(sum[:]) {
			h.t.Errorf("binary on disk %q (id %s), want %q", b, short(h.m.bin.currentID()), content)
		}
	}
}

func wantQuarantined(content string, want bool) step {
	return func(h *loopHarness) {
		h.t.Helper()
		sum := sha256.Sum256([]byte(content))
		if _, got := h.m.bin.releases.quarantined(hex.EncodeToString(sum[:])); got != want {
			h.t.Errorf("%q quarantined = %v, want %v", content, got, want)
		}
	}
}

// wantStagedFiles checks how many staging files are left next to the binary.
func wantStagedFiles(n int) step {
	return func(h *loopHarness) {
		h.t.Helper()
		got, _ := filepath.Glob(filepath.Join(h.m.bin.dir, h.m.bin.pattern))
		if len(got) != n {
			h.t.Errorf("%d staging files, want %d: %v", len(got), n, got)
		}
	}
}

func wantChildBinary(id int, content string) step {
	return func(h *loopHarness) {
		h.t.Helper()
		sum := sha256.Sum256([]byte(content))
		if got := h.child(id).binID; got != hex.EncodeToString(sum[:]) {
			h.t.Errorf("child %d runs %s, want the binary %q", id, short(got), content)
		}
	}
}

// wantNotified checks that some notification since the last check
// contains each of lines, then forgets them.
func wantNotified(lines ...string) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if !notifyWorks {
			return
		}
		all := strings.Join(h.notified, "\n")
		for _, l := range lines {
			if !strings.Contains(all, l) {
				h.t.Errorf("systemd was not sent %q; it got %q", l, h.notified)
			}
		}
		h.notified = nil
	}
}

// wantNotNotified checks that no notification since the last check
// contains line.
func wantNotNotified(line string) step {
	return func(h *loopHarness) {
		h.t.Helper()
		for _, n := range h.notified {
			if strings.Contains(n, line) {
				h.t.Errorf("systemd was sent %q: %q", line, n)
			}
		}
	}
}

func childID(c *childProcess) any {
	if c == nil {
		return "none"
	}
	return c.id
}

var (
	usr2 = syscall.SIGUSR2
	term = syscall.SIGTERM
)

func crashPolicy(c *Config) { c.CrashPolicy = &CrashPolicy{} }

func healthCheck(c *Config) { c.HealthCheck = &HealthCheck{Path: "/healthz"} }

func TestLoop(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*Config)
		steps     []step
	}{
		{"restart hands over once the new child is ready", nil, []step{
			wantEvents(EventChildStarted),
			restartReq(), wantPending(2), wantActive(1), wantSignals(1),
			wantEvents(EventChildStarted, EventRestartBegun),
			wantNotified("RELOADING=1"),
			ready(2), wantActive(2), wantPending(0), wantDraining(1), wantSignals(1, usr2),
			wantEvents(EventChildReady, EventRestartCompleted, EventChildDraining),
			wantNotified("READY=1", "STATUS=serving binary"),
			exit(1, 0), wantDraining(), wantRunning(),
			wantEvents(EventChildExited),
		}},
		{"restart signal is a restart", nil, []step{
			sig(usr2), wantPending(2), wantSignals(1),
		}},
		{"restarts during a restart fold into one more", nil, []step{
			restartReq(), restartReq(), sig(usr2), wantStarted(2),
			ready(2), wantActive(2), wantPending(3), wantStarted(3),
			ready(3), wantActive(3), wantPending(0), wantDraining(1, 2), wantStarted(3),
		}},
		{"a pending child that exits fails the restart; the active one never notices", nil, []step{
			restartReq(), exit(2, 1), wantActive(1), wantPending(0), wantSignals(1), wantRunning(),
			wantEvents(EventChildStarted, EventChildStarted, EventRestartBegun, EventChildExited, EventRestartFailed),
			wantNotified("READY=1", "STATUS=restart failed"),
		}},
		{"a pending child not ready in time is killed and never promoted (bug: late ready)", nil, []step{
			restartReq(), readyTimeout(2), wantKilled(2, true), wantPending(2),
			ready(2), wantActive(1), wantSignals(1), wantDraining(),
			exit(2, 137), wantActive(1), wantPending(0), wantSignals(1), wantRunning(),
		}},
		{"a late ready after a timeout does not drain the healthy child under repeated restarts", nil, []step{
			restartReq(), restartReq(), readyTimeout(2), ready(2), wantActive(1),
			exit(2, 137), wantPending(3), ready(3), wantActive(3), wantDraining(1),
			exit(1, 0), wantRunning(),
		}},
		{"a ready timeout after the child became ready does nothing", nil, []step{
			restartReq(), ready(2), lateReadyTimeout(2), wantKilled(2, false), wantActive(2), wantDraining(1),
		}},
		{"a ready after the pending child exited is ignored", nil, []step{
			restartReq(), exit(2, 1), ready(2), wantActive(1), wantSignals(1), wantPending(0),
		}},
		{"stop during a restart: the pending child is killed and never promoted (bug: exit 137)", nil, []step{
			restartReq(), wantNotified("RELOADING=1"),
			sig(term), wantSignals(1, term), wantKilled(2, true),
			wantNotified("STOPPING=1"),
			ready(2), wantActive(1), wantSignals(1, term),
			exit(2, 137), wantActive(1),
			exit(1, 0), wantDone(0),
			wantNotNotified("READY=1"),
		}},
		{"stop: the exit code is the child's", nil, []step{
			sig(term), exit(1, 3), wantDone(3),
		}},
		{"stop: a child that outlives TerminateTimeout is killed", nil, []step{
			sig(term), killTimeout(1), wantKilled(1, true), exit(1, 137), wantDone(137),
		}},
		{"stop: a kill timer that fires as the child exits kills nothing", nil, []step{
			sig(term), exit(1, 0), wantDone(0), wantKilled(1, false),
		}},
		{"a draining child that outlives TerminateTimeout is killed", nil, []step{
			restartReq(), ready(2), killTimeout(1), wantKilled(1, true), exit(1, 137), wantDraining(), wantRunning(),
		}},
		{"a draining child's kill timer that fires as it exits kills nothing", nil, []step{
			restartReq(), ready(2), exit(1, 0), lateKillTimeout(1), wantKilled(1, false),
		}},
		{"other signals are forwarded to the active child only", nil, []step{
			restartReq(), sig(syscall.SIGHUP), wantSignals(1, syscall.SIGHUP), wantSignals(2), wantRunning(),
		}},
		{"restart while stopping is ignored", nil, []step{
			sig(term), restartReq(), wantStarted(1), wantPending(0),
		}},
		{"the child exiting on its own stops the service with its code", nil, []step{
			exit(1, 3), wantDone(3),
		}},
		{"the active child exiting during a restart stops the service; the pending one is killed", nil, []step{
			restartReq(), exit(1, 3), wantKilled(2, true), ready(2), wantActive(0), exit(2, 137), wantDone(3),
		}},
		{"a draining child that exits with an error does not stop the service", nil, []step{
			restartReq(), ready(2), exit(1, 1), wantRunning(), wantActive(2),
		}},
		{"launch failure on restart: the active child keeps serving", nil, []step{
			failNextLaunch(), restartReq(), wantPending(0), wantActive(1), wantRunning(),
			restartReq(), wantPending(3), // child 2 is the start that failed
		}},
		{"watchdog only for a ready child, never while stopping", nil, []step{
			watchdog(), wantNotNotified("WATCHDOG=1"),
			ready(1), wantNotified("READY=1"),
			watchdog(), wantNotified("WATCHDOG=1"),
			sig(term), watchdog(), wantNotNotified("WATCHDOG=1"),
		}},
		{"NoRestart: a restart request drains and stops", func(c *Config) { c.NoRestart = true }, []step{
			restartReq(), wantSignals(1, term), wantStarted(1), exit(1, 0), wantDone(0),
		}},

		// Upgrades.
		{"an upgrade is installed and restarted into", nil, []step{
			upgrade("v2"), wantDisk("v2"), wantPending(2), wantChildBinary(2, "v2"),
			ready(2), wantActive(2), exit(1, 0), wantDisk("v2"), wantStagedFiles(0),
			wantEvents(EventChildStarted, EventUpgradeApplied, EventChildStarted, EventRestartBegun,
				EventChildReady, EventRestartCompleted, EventChildDraining, EventChildExited),
		}},
		{"an upgrade whose child fails is rolled back and quarantined", nil, []step{
			upgrade("v2"), exit(2, 1), wantDisk("v1"), wantQuarantined("v2", true), wantActive(1), wantSignals(1),
			wantEvents(EventChildStarted, EventUpgradeApplied, EventChildStarted, EventRestartBegun,
				EventChildExited, EventRestartFailed, EventUpgradeRolledBack),
			wantStagedFiles(0),
		}},
		{"an upgrade whose child is not ready in time is rolled back", nil, []step{
			upgrade("v2"), readyTimeout(2), ready(2), exit(2, 137), wantDisk("v1"), wantQuarantined("v2", true), wantActive(1),
		}},
		{"an upgrade whose child cannot start is rolled back", nil, []step{
			failNextLaunch(), upgrade("v2"), wantDisk("v1"), wantQuarantined("v2", true), wantPending(0), wantActive(1),
		}},
		{"an upgrade during a restart waits for it", nil, []step{
			restartReq(), upgrade("v2"), wantDisk("v1"), wantStagedFiles(1),
			ready(2), wantDisk("v2"), wantPending(3), wantChildBinary(3, "v2"), wantStagedFiles(0),
			ready(3), wantActive(3), wantDraining(1, 2),
		}},
		{"a newer upgrade replaces a queued one", nil, []step{
			restartReq(), upgrade("v2"), upgrade("v3"), wantStagedFiles(1),
			ready(2), wantDisk("v3"), wantChildBinary(3, "v3"),
		}},
		{"a queued upgrade follows a failed restart too", nil, []step{
			restartReq(), upgrade("v2"), exit(2, 1), wantDisk("v2"), wantPending(3), wantActive(1),
		}},
		{"a queued upgrade takes the place of a folded restart", nil, []step{
			restartReq(), restartReq(), upgrade("v2"), ready(2), wantPending(3), wantChildBinary(3, "v2"),
			ready(3), wantPending(0), wantStarted(3),
		}},
		{"stop discards a queued upgrade", nil, []step{
			restartReq(), upgrade("v2"), sig(term), wantStagedFiles(0), wantDisk("v1"),
		}},
		{"an upgrade while stopping is discarded", nil, []step{
			sig(term), upgrade("v2"), wantStagedFiles(0), wantDisk("v1"), wantStarted(1),
		}},
		{"stop during an upgrade's restart restores the previous binary without quarantine", nil, []step{
			upgrade("v2"), sig(term), wantKilled(2, true), exit(2, 137), wantDisk("v1"), wantQuarantined("v2", false),
			exit(1, 0), wantDone(0),
		}},
		{"NoRestartAfterFetch installs without restarting; the next restart runs it", func(c *Config) { c.NoRestartAfterFetch = true }, []step{
			upgrade("v2"), wantDisk("v2"), wantPending(0), wantStarted(1),
			restartReq(), wantChildBinary(2, "v2"), exit(2, 1), wantDisk("v1"), wantQuarantined("v2", true),
		}},
		{"NoRestart: an upgrade is installed, then the service drains and stops", func(c *Config) { c.NoRestart = true }, []step{
			upgrade("v2"), wantDisk("v2"), wantSignals(1, term), wantStarted(1), exit(1, 0), wantDone(0),
		}},

		// Probation.
		{"an upgrade is on probation from install to the end of its window, then proven", nil, []step{
			upgrade("v2"), wantProbationState("v2", false), ready(2), exit(1, 0), wantEvents(EventChildStarted, EventUpgradeApplied, EventChildStarted, EventRestartBegun, EventChildReady, EventRestartCompleted, EventChildDraining, EventChildExited),
			probationEnd(), wantEvents(EventUpgradeProven), wantProbationState("", false), wantDisk("v2"), wantBackup("v1"),
			exit(2, 3), wantDone(3), // proven: a crash is the service's again
		}},
		{"a child that crashes during probation is replaced by one of the previous release", nil, []step{
			upgrade("v2"), ready(2), exit(1, 0), wantEvents(EventChildStarted, EventUpgradeApplied, EventChildStarted, EventRestartBegun, EventChildReady, EventRestartCompleted, EventChildDraining, EventChildExited),
			exit(2, 3), wantRunning(), wantDisk("v1"), wantQuarantined("v2", true), wantProbationState("", false),
			wantActive(3), wantChildBinary(3, "v1"), wantNotified("STATUS=rolled back release"),
			wantEvents(EventChildExited, EventUpgradeRolledBack, EventChildStarted),
			ready(3), wantNotified("READY=1"), wantActive(3),
		}},
		{"a crash during probation is rolled back under a CrashPolicy too, without backoff", crashPolicy, []step{
			upgrade("v2"), ready(2), exit(1, 0), exit(2, 3), wantActive(3), wantChildBinary(3, "v1"), wantDisk("v1"),
		}},
		{"a crash during probation while the old child still drains", nil, []step{
			upgrade("v2"), ready(2), exit(2, 3), wantActive(3), wantDraining(1), wantChildBinary(3, "v1"), exit(1, 0), wantRunning(),
		}},
		{"a failing health check rolls the release back; the previous release takes over once ready", healthCheck, []step{
			upgrade("v2"), wantHealthChecks(0), ready(2), wantHealthChecks(1), exit(1, 0),
			health(false), health(false), wantPending(0), wantDisk("v2"),
			health(false), wantHealthChecks(0), wantDisk("v1"), wantQuarantined("v2", true), wantPending(3), wantChildBinary(3, "v1"),
			ready(3), wantActive(3), wantDraining(2), exit(2, 0), wantRunning(),
		}},
		{"a passing health check resets the count of failures", healthCheck, []step{
			upgrade("v2"), ready(2), health(false), health(false), health(true), health(false), health(false),
			wantDisk("v2"), wantPending(0), probationEnd(), wantHealthChecks(0), wantDisk("v2"),
		}},
		{"a newer release during probation replaces it; the rollback returns to the last proven binary", nil, []step{
			upgrade("v2"), ready(2), exit(1, 0), upgrade("v3"), wantDisk("v3"), wantBackup("v1"), wantProbationState("v3", false),
			ready(3), exit(2, 0), exit(3, 1), wantDisk("v1"), wantQuarantined("v3", true), wantQuarantined("v2", false), wantChildBinary(4, "v1"),
		}},
		{"a restart during probation keeps the window; its child is still on probation", nil, []step{
			upgrade("v2"), ready(2), restartReq(), ready(3), wantActive(3), exit(3, 1), wantDisk("v1"), wantChildBinary(4, "v1"), wantActive(4),
		}},
		{"a rollback during a restart into the release stops that restart", healthCheck, []step{
			upgrade("v2"), ready(2), restartReq(), health(false), health(false), health(false),
			wantKilled(3, true), ready(3), wantActive(2), exit(3, 137), wantPending(4), wantChildBinary(4, "v1"),
		}},
		{"stop during probation suspends it: the next start runs the release again", nil, []step{
			upgrade("v2"), ready(2), exit(1, 0), sig(term), wantProbationState("v2", true), wantDisk("v2"), exit(2, 0), wantDone(0),
		}},
		{"without probation a release is proven once ready", func(c *Config) { c.ProbationPeriod = -1 }, []step{
			upgrade("v2"), ready(2), wantProbationState("", false), exit(1, 0), exit(2, 3), wantDone(3), wantDisk("v2"),
		}},
		{"a health result for a release no longer on probation is ignored", healthCheck, []step{
			upgrade("v2"), ready(2), probationEnd(), func(h *loopHarness) {
				h.handle(healthMsg{inst: &installed{id: "old"}, err: errors.New("500")})
			}, wantDisk("v2"), wantRunning(),
		}},

		// CrashPolicy.
		{"crash policy: a crashed child is replaced after the backoff", crashPolicy, []step{
			ready(1), exit(1, 3), wantActive(0), wantRunning(), wantNotified("STATUS=child crashed"),
			crashBackoff(), wantActive(2), ready(2), wantNotified("READY=1"),
			wantEvents(EventChildStarted, EventChildReady, EventChildExited, EventCrashRestart, EventChildStarted, EventChildReady),
		}},
		{"crash policy: too many failed starts stop the service with the last code", crashPolicy, []step{
			exit(1, 3), crashBackoff(), exit(2, 3), crashBackoff(), exit(3, 3), crashBackoff(), wantRunning(),
			exit(4, 4), wantDone(4),
		}},
		{"crash policy: the active child crashes during a restart; the new child takes over", crashPolicy, []step{
			restartReq(), exit(1, 3), wantActive(0), wantPending(2), ready(2), wantActive(2), wantDraining(), wantRunning(),
		}},
		{"crash policy: the active child crashes and the restart fails too; a child is started (bug: none, forever)", crashPolicy, []step{
			restartReq(), exit(1, 3), exit(2, 1), wantActive(0), wantPending(0), wantRunning(),
			crashBackoff(), wantActive(3), ready(3), wantNotified("READY=1"),
		}},
		{"crash policy: a restart during the backoff starts the child at once", crashPolicy, []step{
			exit(1, 3), restartReq(), wantPending(2), ready(2), wantActive(2), crashBackoff(), wantStarted(2),
		}},
		{"crash policy: an upgrade during the backoff is installed and started", crashPolicy, []step{
			exit(1, 3), upgrade("v2"), wantDisk("v2"), wantPending(2), ready(2), wantActive(2),
		}},
		{"crash policy: a child started after a crash and not ready in time is killed and never reported ready", crashPolicy, []step{
			exit(1, 3), crashBackoff(), readyTimeout(2), wantKilled(2, true), ready(2), wantNotNotified("READY=1"),
			exit(2, 137), wantActive(0), wantRunning(), crashBackoff(), wantActive(3),
		}},
		{"crash policy: stop during the backoff exits with the crashed child's code", crashPolicy, []step{
			exit(1, 3), sig(term), wantDone(3), wantStarted(1),
		}},
		{"crash policy with NoRestart: a restart request during the backoff stops (bug: panic)", func(c *Config) { crashPolicy(c); c.NoRestart = true }, []step{
			exit(1, 3), restartReq(), wantDone(3), wantStarted(1),
		}},
		{"crash policy with NoRestart: an upgrade during the backoff stops (bug: panic)", func(c *Config) { crashPolicy(c); c.NoRestart = true }, []step{
			exit(1, 3), upgrade("v2"), wantDone(3), wantStarted(1),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newLoopHarness(t, tc.configure)
			for _, s := range tc.steps {
				s(h)
			}
		})
	}
}

// TestControlLineTooLong: a line longer than the reader's buffer is
// skipped; the channel stays open and later messages still arrive.
func TestControlLineTooLong(t *testing.T) {
	masterEnd, childEnd, err := newControlPair()
	if err != nil {
		t.Fatal(err)
	}
	defer childEnd.Close()
	inbox := make(chan loopMsg, 4)
	c := &childProcess{id: 7, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ended := make(chan struct{})
	go func() {
		readControl(masterEnd, c, inbox)
		close(ended)
	}()
	go func() {
		_, _ = childEnd.Write([]byte(strings.Repeat("x", 70<<10) + "\n" + msgReady + "\n"))
	}()
	select {
	case msg := <-inbox:
		if r, ok := msg.(readyMsg); !ok || r.child != c {
			t.Fatalf("got %#v, want ready from child 7", msg)
		}
	case <-ended:
		t.Fatal("the control channel ended after a long line")
	case <-time.After(10 * time.Second):
		t.Fatal("no ready message within 10s")
	}
	childEnd.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("reader did not end after the child's end closed")
	}
}

// TestControlPairTakesForkLock: the pair is created and made
// close-on-exec under syscall.ForkLock, so no process forked meanwhile can
// inherit it (os/exec forks holding the lock for writing).
func TestControlPairTakesForkLock(t *testing.T) {
	syscall.ForkLock.Lock()
	made := make(chan error, 1)
	go func() {
		a, b, err := newControlPair()
		if err == nil {
			for _, f := range []*os.File{a, b} {
				flags, ferr := fcntlGetFD(f)
				if ferr == nil && flags&syscall.FD_CLOEXEC == 0 {
					err = fmt.Errorf("%s is not close-on-exec", f.Name())
				}
				f.Close()
			}
		}
		made <- err
	}()
	select {
	case <-made:
		syscall.ForkLock.Unlock()
		t.Fatal("newControlPair did not wait for the fork lock")
	case <-time.After(100 * time.Millisecond):
	}
	syscall.ForkLock.Unlock()
	select {
	case err := <-made:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("newControlPair blocked after the fork lock was released")
	}
}

// fcntlGetFD returns f's descriptor flags.
func fcntlGetFD(f *os.File) (int, error) {
	return unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
}
