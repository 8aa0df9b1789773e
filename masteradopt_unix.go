//go:build unix

package overseer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/seed-710818af/overseer/internal/sockets"
	"golang.org/x/sys/unix"
)

// The new image of a re-executed master: it takes over the sockets and
// adopts the running child that the old image handed over (see
// reexec_unix.go and wire.go).

// takeHandover reads and removes envReexec: the handover this image came
// from, or nil if it did not come from a re-exec.
func takeHandover() (*handover, error) {
	v, ok := os.LookupEnv(envReexec)
	os.Unsetenv(envReexec)
	if !ok {
		return nil, nil
	}
	return parseHandover(v)
}

// marshalHandover encodes h for envReexec.
func marshalHandover(h *handover) (string, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("describe the handover: %w", err)
	}
	return string(b), nil
}

// parseHandover decodes envReexec.
func parseHandover(s string) (*handover, error) {
	var h handover
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, fmt.Errorf("%s: %w", envReexec, err)
	}
	if h.Version != handoverVersion {
		return nil, fmt.Errorf("%s: handover version %d, this binary knows %d", envReexec, h.Version, handoverVersion)
	}
	if h.Child == nil {
		return nil, fmt.Errorf("%s: no child", envReexec)
	}
	return &h, nil
}

// inheritSockets rebuilds the socket set the old image handed over. The
// inherited sockets are what the service listens on: an address that
// changed in Config is logged and not applied.
func inheritSockets(c *Config, h *handover) (*socketSet, error) {
	if err := fitsAddresses(c, h); err != nil {
		return nil, err
	}
	files := make([]sockets.SocketFile, 0, len(h.Unlink))
	for _, p := range h.Unlink {
		files = append(files, sockets.SocketFile{Path: p.Path, Dev: p.Dev, Ino: p.Ino})
	}
	set, err := sockets.Inherit(c.addrs, h.Sockets, files)
	if err != nil {
		return nil, err
	}
	for i, a := range c.Addresses {
		if a != h.Addresses[i] {
			c.Logger.Warn("Config.Addresses changed across the master's re-exec; the inherited socket keeps serving (restart the service to apply the change)", "inherited", h.Addresses[i], "configured", a)
		}
	}
	return &socketSet{files: set.Files(), set: set}, nil
}

// adopt takes over child c, already running, whose control channel's
// master end is descriptor ctlFD: it reports c's control messages and
// its exit as launch does for a child it starts. c is still this
// process's child (execve kept the PID), so it can be waited for.
func (l *processLauncher) adopt(c *childProcess, ctlFD int) error {
	unix.CloseOnExec(ctlFD)
	if err := unix.SetNonblock(ctlFD, true); err != nil {
		return fmt.Errorf("control channel of child %d (fd %d): %w", c.id, ctlFD, err)
	}
	if _, err := unix.GetsockoptInt(ctlFD, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return fmt.Errorf("control channel of child %d (fd %d) is not a socket: %w", c.id, ctlFD, err)
	}
	p, err := os.FindProcess(c.pid)
	if err != nil {
		return fmt.Errorf("child %d (pid %d): %w", c.id, c.pid, err)
	}
	ctl := os.NewFile(uintptr(ctlFD), "overseer-control")
	c.proc, c.ctl = p, ctl
	c.log = c.log.With("child_pid", c.pid)
	ownPids.add(c.pid)
	go readControl(ctl, c, l.inbox)
	go func() {
		awaitExit(c.pid)
		var ws unix.WaitStatus
		var err error
		for {
			if _, err = unix.Wait4(c.pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
				break
			}
		}
		ownPids.remove(c.pid)
		if err != nil {
			l.inbox <- exitMsg{child: c, code: 1, status: fmt.Sprintf("wait failed: %v", err)}
			return
		}
		l.inbox <- exitMsg{child: c, code: waitStatusCode(ws), status: waitStatusString(ws)}
	}()
	return nil
}

// waitStatusCode is exitCode for a raw wait status.
func waitStatusCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// waitStatusString describes a wait status as os.ProcessState does.
func waitStatusString(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "signal: " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// adoptedChild is the loop's record of the child h hands over.
func (m *master) adoptedChild(h *handover) *childProcess {
	hc := h.Child
	c := &childProcess{
		id:      hc.ID,
		binID:   hc.BinID,
		pid:     hc.PID,
		started: time.UnixMicro(hc.Started),
		log:     m.log.With("child", hc.ID),
	}
	if hc.Ready {
		c.readyAt = time.Now()
	}
	return c
}

// adopt makes c, a child the previous image of this master handed over
// and the launcher has adopted, the active child: nothing is started, no
// child is told anything.
func (m *master) adopt(h *handover, c *childProcess) {
	m.nextID = max(h.NextID, c.id)
	m.active = c
	away := time.Since(time.UnixMicro(h.Began))
	m.log.Info("master re-executed in place; child adopted", "reason", h.Reason, "binary", m.bin.path, "id", short(m.imageID), "child", c.id, "child_pid", c.pid, "away", away.Round(time.Microsecond))
	m.sink.emit(Event{Kind: EventMasterReexec, BinaryID: m.imageID, ChildID: c.id, PID: c.pid, Reason: h.Reason, Duration: away})
	if c.readyAt.IsZero() {
		m.timers.after(m.cfg.ReadyTimeout, readyTimeoutMsg{child: c})
		return
	}
	m.notify.send("READY=1", "STATUS="+m.status())
}
