//go:build unix

package overseer

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-710818af/overseer/graceful"
)

// v1ParentPoll is how often a v1 child checks that its master still runs.
const v1ParentPoll = 500 * time.Millisecond

// runV1Child runs the program as the child of a jpillora/overseer (v1)
// master (see jpillora_child.go). It is this library's child role on the
// v1 contract: the inherited listeners are graceful.Listeners, the drain
// is the same, and a local control channel stands in for the one a v1
// master does not have, translated to v1 signals by a small adapter.
func runV1Child(c *Config) error {
	ch, adapter, err := newV1Child(c)
	if err != nil {
		return err
	}
	go adapter.run()
	setRestarter(ch.requestRestart)
	go ch.watchMaster()
	go ch.watchSignals()
	go ch.watchAccepting()
	ch.log.Info("running as the child of a jpillora/overseer master; this library's master takes over at the next full restart")
	c.Program(ch.state)
	ch.finish()
	return nil
}

// newV1Child reads what a v1 master passed in the environment and
// descriptors, and builds the child role and its adapter.
func newV1Child(c *Config) (*childRuntime, *v1Adapter, error) {
	n, err := strconv.Atoi(os.Getenv(envV1NumFDs))
	if err != nil || n < 0 {
		return nil, nil, fmt.Errorf("overseer (jpillora child): bad %s=%q", envV1NumFDs, os.Getenv(envV1NumFDs))
	}
	listeners, err := adoptV1Listeners(n)
	if err != nil {
		return nil, nil, err
	}
	masterEnd, childEnd, err := newControlPair()
	if err != nil {
		for _, l := range listeners {
			l.Close()
		}
		return nil, nil, fmt.Errorf("overseer (jpillora child): %w", err)
	}
	id := os.Getenv(envV1ChildID)
	log := c.Logger.With("role", "child", "child", id, "pid", os.Getpid(), "master", "jpillora/overseer")
	ch := newChildRuntime(c, log, childEnd, v1BinaryID(), listeners, nil)
	if len(listeners) != len(c.Addresses) {
		ch.log.Warn("the jpillora/overseer master passed a different number of listeners than Config.Addresses names", "passed", len(listeners), "addresses", len(c.Addresses))
	}
	// The program's own subprocesses are not children of any overseer.
	for _, k := range []string{envV1IsChild, envV1ChildID, envV1NumFDs, envBinID, envBinPath} {
		os.Unsetenv(k)
	}
	a := &v1Adapter{
		ctl:       masterEnd,
		masterPID: os.Getppid(),
		restart:   c.RestartSignal,
		noRestart: c.NoRestart,
		log:       ch.log,
	}
	return ch, a, nil
}

// adoptV1Listeners wraps the n stream sockets a v1 master passes from fd 3
// on. A v1 master only passes TCP listeners.
func adoptV1Listeners(n int) ([]*graceful.Listener, error) {
	var out []*graceful.Listener
	for i := 0; i < n; i++ {
		fd := v1FirstFD + i
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err == nil && typ != unix.SOCK_STREAM {
			err = fmt.Errorf("socket type %d, want a stream socket", typ)
		}
		var l net.Listener
		if err == nil {
			f := os.NewFile(uintptr(fd), "jpillora-overseer-listener")
			l, err = net.FileListener(f) // a duplicate, close-on-exec
			f.Close()
		}
		if err != nil {
			for _, gl := range out {
				gl.Close()
			}
			return nil, fmt.Errorf("overseer (jpillora child): inherit listener %d (fd %d): %w", i, fd, err)
		}
		out = append(out, graceful.NewListener(l))
	}
	return out, nil
}

// v1BinaryID is the SHA-256 of the running binary, as State.ID promises; a
// v1 master passes a SHA-1 instead, which is kept if hashing fails.
func v1BinaryID() string {
	if exe, err := os.Executable(); err == nil {
		if id, _, err := hashFile(exe); err == nil {
			return id
		}
	}
	return os.Getenv(envBinID)
}

// v1Adapter plays this library's master to the child role, over a local
// control channel, and speaks v1 signals to the real master.
type v1Adapter struct {
	ctl       *os.File // the master's end of the child role's control channel
	masterPID int      // the v1 master
	restart   os.Signal
	noRestart bool
	log       *slog.Logger
}

// run starts the adapter's watches.
func (a *v1Adapter) run() {
	go a.readControl()
	go a.watchDrain()
	a.watchMaster()
}

// readControl turns the child role's requests into v1 signals: a restart
// request becomes the restart signal sent to the master, as a v1 child
// does. Readiness means nothing to a v1 master.
func (a *v1Adapter) readControl() {
	sc := bufio.NewScanner(a.ctl)
	sc.Buffer(make([]byte, 0, 256), maxControlLine)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == msgRestart {
			a.signalMaster(a.restart)
		}
	}
}

// watchDrain tells the master, once this process is asked to drain by the
// restart signal, that it no longer accepts, so the master starts the next
// child (unless restarts are disabled, as a v1 child does). SIGUSR1 itself
// is caught and dropped: a v1 master forwards it to its child when it did
// not expect it, and its default action would kill this process.
func (a *v1Adapter) watchDrain() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, a.restart, SIGUSR1)
	told := false
	for s := range sigs {
		if s == a.restart && !told && !a.noRestart {
			told = true
			a.signalMaster(SIGUSR1)
		}
	}
}

// watchMaster ends the control channel when the v1 master is gone (this
// process has a new parent), which makes the child role drain for good.
func (a *v1Adapter) watchMaster() {
	t := time.NewTicker(v1ParentPoll)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != a.masterPID {
			a.log.Warn("jpillora/overseer master is gone")
			a.ctl.Close()
			return
		}
	}
}

// signalMaster sends s to the v1 master.
func (a *v1Adapter) signalMaster(s os.Signal) {
	sig, ok := s.(syscall.Signal)
	if !ok {
		return
	}
	if err := syscall.Kill(a.masterPID, sig); err != nil {
		a.log.Debug("signal to jpillora/overseer master failed", "signal", s, "err", err)
	}
}
