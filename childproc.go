//go:build unix

package overseer

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"
)

// childProc is the master's handle on one child process. Its fields are
// set when it starts and not changed after, except the timers, which only
// the master's event loop touches.
type childProc struct {
	id      int
	binID   string
	proc    *os.Process
	started time.Time
	log     *slog.Logger

	// Owned by the master's event loop.
	readyAt   time.Time   // when it reported ready; zero before
	drainAt   time.Time   // when it was told to drain; zero before
	killTimer *time.Timer // kills it if it outlives its drain
}

// childSpec is everything needed to start a child.
type childSpec struct {
	id      int
	binPath string
	binID   string
	sockets []*os.File
	log     *slog.Logger
	events  chan<- event
	spawner *spawner
}

// startChild starts a child process and the goroutines that report its
// messages and its exit to events.
func startChild(s childSpec) (*childProc, error) {
	masterEnd, childEnd, err := newControlPair()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.binPath)
	cmd.Args = append([]string{os.Args[0]}, os.Args[1:]...)
	cmd.Env = append(childlessEnviron(),
		envChildID+"="+strconv.Itoa(s.id),
		envBinID+"="+s.binID,
		envBinPath+"="+s.binPath,
		envNumFDs+"="+strconv.Itoa(len(s.sockets)),
	)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = append([]*os.File{childEnd}, s.sockets...)
	cmd.SysProcAttr = childSysProcAttr()
	err = s.spawner.start(cmd)
	childEnd.Close()
	if err != nil {
		masterEnd.Close()
		return nil, fmt.Errorf("start child %d from %s: %w", s.id, s.binPath, err)
	}
	c := &childProc{
		id:      s.id,
		binID:   s.binID,
		proc:    cmd.Process,
		started: time.Now(),
		log:     s.log.With("child", s.id, "child_pid", cmd.Process.Pid),
	}
	ownPids.add(cmd.Process.Pid)
	go c.readControl(masterEnd, s.events)
	go func() {
		err := cmd.Wait()
		ownPids.remove(c.proc.Pid)
		if cmd.ProcessState == nil {
			s.events <- exitEvent{child: c, code: 1, status: fmt.Sprintf("wait failed: %v", err)}
			return
		}
		s.events <- exitEvent{child: c, code: exitCode(cmd.ProcessState), status: cmd.ProcessState.String()}
	}()
	return c, nil
}

// readControl turns the child's control messages into events until the
// channel closes (the child exited).
func (c *childProc) readControl(ctl *os.File, events chan<- event) {
	defer ctl.Close()
	sc := bufio.NewScanner(ctl)
	for sc.Scan() {
		switch sc.Text() {
		case msgReady:
			events <- readyEvent{child: c}
		case msgRestart:
			events <- restartEvent{reason: fmt.Sprintf("Restart() called in child %d", c.id)}
		default:
			c.log.Warn("unknown control message from child", "msg", sc.Text())
		}
	}
}

// signal sends s to the child; failures are logged, never fatal (the child
// may have just exited, which its exit event reports).
func (c *childProc) signal(s os.Signal) {
	if err := c.proc.Signal(s); err != nil {
		c.log.Warn("cannot signal child", "signal", s, "err", err)
		return
	}
	c.log.Debug("signalled child", "signal", s)
}

// killAfter kills the child if it is still running after d.
func (c *childProc) killAfter(d time.Duration, why string) {
	if c.killTimer != nil {
		return
	}
	c.killTimer = time.AfterFunc(d, func() {
		c.log.Warn("killing child", "reason", why, "after", d)
		_ = c.proc.Kill()
	})
}

// stopTimers cancels the child's kill timer.
func (c *childProc) stopTimers() {
	if c.killTimer != nil {
		c.killTimer.Stop()
	}
}

// spawner starts processes from one goroutine locked to its OS thread for
// the life of the process. Linux delivers a child's parent-death signal
// when the thread that started it exits, and Go may end threads (a locked
// goroutine that returns takes its thread with it); a thread that never
// exits makes the signal mean what it should: the master died.
type spawner struct {
	requests chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// newSpawner starts the spawner's goroutine.
func newSpawner() *spawner {
	s := &spawner{requests: make(chan spawnRequest)}
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for r := range s.requests {
			r.done <- startRetryingTextBusy(r.cmd)
		}
	}()
	return s
}

// start starts cmd on the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	s.requests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}
