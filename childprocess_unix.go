//go:build unix

package overseer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"
)

// childProcess is the master's record of one child. The event loop owns
// every field after launch; nothing else reads or writes them.
type childProcess struct {
	id      int
	binID   string
	started time.Time
	log     *slog.Logger
	proc    process  // set by launch
	pid     int      // set by launch
	ctl     *os.File // the master's end of its control channel; set by launch, nil in the loop's tests

	readyAt    time.Time // when it reported ready; zero before
	drainAt    time.Time // when it was told to drain; zero before
	killed     bool      // the loop killed it: it never becomes active
	exited     bool      // its exit was reported
	cancelKill func()    // stops its TerminateTimeout kill timer; nil if none
}

// process is a running child process, as the event loop acts on it.
// *os.Process is one.
type process interface {
	Signal(os.Signal) error
	Kill() error
}

// signal sends s to the child; failures are logged, never fatal (the child
// may have just exited, which its exit message reports).
func (c *childProcess) signal(s os.Signal) {
	if err := c.proc.Signal(s); err != nil {
		c.log.Warn("cannot signal child", "signal", s, "err", err)
		return
	}
	c.log.Debug("signalled child", "signal", s)
}

// kill kills the child and marks it as given up on: a ready message that
// was already on its way must not make it the active child.
func (c *childProcess) kill(why string) {
	c.killed = true
	c.log.Warn("killing child", "reason", why)
	if err := c.proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.log.Warn("cannot kill child", "err", err)
	}
}

// launcher starts child processes. Once launch returns, the launcher
// reports the child's ready and restart messages and, exactly once, its
// exit, to the event loop. The loop's tests launch no process.
type launcher interface {
	launch(c *childProcess) error
}

// processLauncher starts children as real processes of binPath on the
// master's sockets.
type processLauncher struct {
	binPath string
	sockets []*os.File
	inbox   chan<- loopMsg
	spawner *spawner
}

// launch starts c as a process and the goroutines that report its control
// messages and its exit.
func (l *processLauncher) launch(c *childProcess) error {
	masterEnd, childEnd, err := newControlPair()
	if err != nil {
		return err
	}
	cmd := exec.Command(l.binPath)
	cmd.Args = append([]string{os.Args[0]}, os.Args[1:]...)
	cmd.Env = append(childlessEnviron(),
		envChildID+"="+strconv.Itoa(c.id),
		envBinID+"="+c.binID,
		envBinPath+"="+l.binPath,
		envNumFDs+"="+strconv.Itoa(len(l.sockets)),
	)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = append([]*os.File{childEnd}, l.sockets...)
	cmd.SysProcAttr = childSysProcAttr()
	err = l.spawner.start(cmd)
	childEnd.Close()
	if err != nil {
		masterEnd.Close()
		return fmt.Errorf("start child %d from %s: %w", c.id, l.binPath, err)
	}
	c.proc, c.pid = cmd.Process, cmd.Process.Pid
	c.log = c.log.With("child_pid", cmd.Process.Pid)
	ownPids.add(cmd.Process.Pid)
	c.ctl = masterEnd
	go readControl(masterEnd, c, l.inbox)
	go func() {
		awaitExit(cmd.Process.Pid)
		err := cmd.Wait()
		ownPids.remove(cmd.Process.Pid)
		if cmd.ProcessState == nil {
			l.inbox <- exitMsg{child: c, code: 1, status: fmt.Sprintf("wait failed: %v", err)}
			return
		}
		l.inbox <- exitMsg{child: c, code: exitCode(cmd.ProcessState), status: cmd.ProcessState.String()}
	}()
	return nil
}

// readControl turns child c's control messages into loop messages until
// the channel closes (the child exited). A line longer than
// maxControlLine is skipped, not fatal: ending the channel would tell the
// child its master is gone.
func readControl(ctl io.ReadCloser, c *childProcess, inbox chan<- loopMsg) {
	defer ctl.Close()
	r := bufio.NewReaderSize(ctl, maxControlLine)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.log.Warn("control message too long; skipped", "limit", maxControlLine)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		switch msg := string(line[:len(line)-1]); msg {
		case msgReady:
			inbox <- readyMsg{child: c}
		case msgRestart:
			inbox <- restartMsg{reason: fmt.Sprintf("Restart() called in child %d", c.id)}
		case msgReexec:
			inbox <- reexecMsg{reason: fmt.Sprintf("ReexecMaster() called in child %d", c.id)}
		default:
			c.log.Warn("unknown control message from child", "msg", msg)
		}
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
	exec func() error // instead of cmd: run this on the spawner's thread (the master's execve)
	done chan error
}

// newSpawner starts the spawner's goroutine.
func newSpawner() *spawner {
	s := &spawner{requests: make(chan spawnRequest)}
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		s.serve()
	}()
	return s
}

// serve starts processes for the spawner's requests, forever, on the
// calling goroutine, which must be locked to its thread. A master image
// that came from a re-exec serves on its main goroutine (see
// reexecinit_unix.go).
func (s *spawner) serve() {
	for r := range s.requests {
		if r.exec != nil {
			r.done <- r.exec()
			continue
		}
		r.done <- startRetryingTextBusy(r.cmd)
	}
}

// exec runs fn, the master's execve, on the spawner's thread. Every child
// was started from this thread, and on Linux a child's parent-death
// signal fires when the thread that started it ends: execve ends every
// thread but the one that calls it, which carries on as the new image's
// main thread.
func (s *spawner) exec(fn func() error) error {
	done := make(chan error, 1)
	s.requests <- spawnRequest{exec: fn, done: done}
	return <-done
}

// start starts cmd on the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	s.requests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}
