//go:build unix

package overseer

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The re-exec decisions of the event loop, driven in-process with the
// loop harness of master_unix_test.go: the reexecer records the dry runs
// and execs it is asked for. The real exec is covered by
// reexec_linux_test.go.

// testReexecer records instead of re-executing. Its exec "fails" (a real
// one that succeeds never returns), so every case also shows the master
// carrying on after a failed execve.
type testReexecer struct {
	checks []string    // binary IDs dry-run
	execs  []*handover // handovers exec was given
}

func (r *testReexecer) startCheck(h *handover, id string) { r.checks = append(r.checks, id) }
func (r *testReexecer) exec(h *handover, c *childProcess) error {
	r.execs = append(r.execs, h)
	return errors.New("simulated: execve failed")
}

// reexecHarness is the loop harness with a test reexecer.
func reexecHarness(t *testing.T, configure func(*Config)) (*loopHarness, *testReexecer) {
	h := newLoopHarness(t, configure)
	r := &testReexecer{}
	h.m.reexec = r
	return h, r
}

func reexecReq() step { return func(h *loopHarness) { h.handle(reexecMsg{reason: "test"}) } }

// dryRun answers the last dry run: err nil means it passed.
func dryRun(r *testReexecer, err error) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if len(r.checks) == 0 {
			h.t.Fatal("no dry run was started")
		}
		h.handle(reexecCheckedMsg{id: r.checks[len(r.checks)-1], err: err})
	}
}

func wantReexec(r *testReexecer, checks, execs int) step {
	return func(h *loopHarness) {
		h.t.Helper()
		if len(r.checks) != checks || len(r.execs) != execs {
			h.t.Errorf("%d dry runs and %d execs, want %d and %d", len(r.checks), len(r.execs), checks, execs)
		}
	}
}

func TestLoopReexec(t *testing.T) {
	winch := syscall.SIGWINCH
	cases := []struct {
		name      string
		configure func(*Config)
		steps     func(r *testReexecer) []step
	}{
		{"a proven release re-executes the master once the old child is gone, handing over the active child", nil, func(r *testReexecer) []step {
			return []step{
				upgrade("v2"), ready(2), probationEnd(), wantEvents(EventChildStarted, EventUpgradeApplied, EventChildStarted, EventRestartBegun, EventChildReady, EventRestartCompleted, EventChildDraining, EventUpgradeProven),
				wantReexec(r, 0, 0), // child 1 still drains
				exit(1, 0), wantReexec(r, 1, 0), wantDisk("v2"),
				dryRun(r, nil), wantReexec(r, 1, 1),
				func(h *loopHarness) {
					e := r.execs[0]
					if e.Version != handoverVersion || e.Child == nil || e.Child.ID != 2 || e.Child.PID != 1002 || !e.Child.Ready || e.NextID != 2 || e.Child.BinID != h.m.bin.currentID() {
						h.t.Errorf("handover %+v (child %+v)", e, e.Child)
					}
				},
				// The simulated execve failed: the child was told nothing.
				wantActive(2), wantSignals(2), wantStarted(2), wantRunning(),
				wantEvents(EventChildExited, EventMasterReexecFailed),
				restartReq(), wantReexec(r, 1, 1), // a failed exec is not retried on its own
			}
		}},
		{"a failed dry run leaves the master and child as they are; an explicit request tries again", nil, func(r *testReexecer) []step {
			return []step{
				upgrade("v2"), ready(2), exit(1, 0), probationEnd(), wantReexec(r, 1, 0),
				dryRun(r, errors.New("panic: masterpanic")), wantReexec(r, 1, 0),
				wantActive(2), wantSignals(2), wantRunning(), wantEvents(EventChildStarted, EventUpgradeApplied, EventChildStarted, EventRestartBegun, EventChildReady, EventRestartCompleted, EventChildDraining, EventChildExited, EventUpgradeProven, EventMasterReexecFailed),
				func(h *loopHarness) {
					if h.m.reexecRefused != h.m.bin.currentID() {
						h.t.Errorf("the refused binary is not remembered")
					}
				},
				reexecReq(), wantReexec(r, 2, 0), dryRun(r, nil), wantReexec(r, 2, 1),
			}
		}},
		{"ReexecSignal asks for a re-exec and is not forwarded", func(c *Config) { c.ReexecSignal = winch }, func(r *testReexecer) []step {
			return []step{ready(1), sig(winch), wantReexec(r, 1, 0), wantSignals(1), dryRun(r, nil), wantReexec(r, 1, 1), wantSignals(1)}
		}},
		{"without ReexecSignal the signal is forwarded as before", nil, func(r *testReexecer) []step {
			return []step{ready(1), sig(winch), wantReexec(r, 0, 0), wantSignals(1, winch)}
		}},
		{"a re-exec waits for a ready child and for a restart and its drain to end", nil, func(r *testReexecer) []step {
			return []step{
				reexecReq(), wantReexec(r, 0, 0), // child 1 not ready yet
				ready(1), wantReexec(r, 1, 0), restartReq(), wantPending(2),
				dryRun(r, nil), wantReexec(r, 1, 0), // a restart began during the dry run
				ready(2), wantReexec(r, 1, 0), exit(1, 0), wantReexec(r, 2, 0),
				dryRun(r, nil), wantReexec(r, 2, 1),
			}
		}},
		{"a re-exec waits for a release on probation", nil, func(r *testReexecer) []step {
			return []step{ready(1), upgrade("v2"), ready(2), exit(1, 0), reexecReq(), wantReexec(r, 0, 0), probationEnd(), wantReexec(r, 1, 0)}
		}},
		{"stop during the dry run: no exec", nil, func(r *testReexecer) []step {
			return []step{ready(1), reexecReq(), sig(term), dryRun(r, nil), wantReexec(r, 1, 0), exit(1, 0), wantDone(0)}
		}},
		{"NoMasterReexec: a proven release does not re-execute the master", func(c *Config) { c.NoMasterReexec = true }, func(r *testReexecer) []step {
			return []step{upgrade("v2"), ready(2), exit(1, 0), probationEnd(), wantReexec(r, 0, 0), reexecReq(), wantReexec(r, 1, 0)}
		}},
		{"a binary replaced during the dry run is dry-run again", nil, func(r *testReexecer) []step {
			return []step{
				ready(1), reexecReq(), wantReexec(r, 1, 0),
				func(h *loopHarness) { h.m.bin.setID("replaced") }, dryRun(r, nil), wantReexec(r, 2, 0),
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, r := reexecHarness(t, tc.configure)
			for _, s := range tc.steps(r) {
				s(h)
			}
		})
	}
}

// TestLoopAdopt: a master image that came from a re-exec adopts the
// handed-over child: nothing is started, systemd hears READY=1, the
// sequence numbers continue, and the adopted child is drained by the next
// restart like any other.
func TestLoopAdopt(t *testing.T) {
	h := newIdleLoopHarness(t, nil)
	hv := &handover{Version: handoverVersion, NextID: 4, Began: time.Now().Add(-5 * time.Millisecond).UnixMicro(), Reason: "test",
		Child: &handedChild{ID: 4, PID: 4321, BinID: h.m.bin.currentID(), Ready: true, Started: time.Now().UnixMicro()}}
	c := h.m.adoptedChild(hv)
	c.proc = &testProcess{}
	h.launcher.children = append(h.launcher.children, c)
	h.m.adopt(hv, c)
	h.collect()
	for _, s := range []step{
		wantActive(4), wantStarted(1), wantEvents(EventMasterReexec), wantNotified("READY=1"),
		restartReq(), wantPending(5), ready(5), wantDraining(4), wantSignals(4, usr2), exit(4, 0), wantDraining(),
		sig(term), exit(5, 0), wantDone(0),
	} {
		s(h)
	}
}

// TestControlReexec: a child's "reexec" line (ReexecMaster called in the
// child) reaches the loop as a re-exec request.
func TestControlReexec(t *testing.T) {
	masterEnd, childEnd, err := newControlPair()
	if err != nil {
		t.Fatal(err)
	}
	defer childEnd.Close()
	inbox := make(chan loopMsg, 4)
	c := &childProcess{id: 3, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go readControl(masterEnd, c, inbox)
	if _, err := childEnd.Write([]byte(msgReexec + "\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-inbox:
		if r, ok := msg.(reexecMsg); !ok || !strings.Contains(r.reason, "child 3") {
			t.Fatalf("got %#v, want a re-exec request from child 3", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
}
