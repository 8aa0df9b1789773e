//go:build unix

package overseer

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/graceful"
	"github.com/seed-710818af/overseer/internal/drain"
)

// childRuntime is this process when the master started it (the child
// role): it runs the program on the inherited listeners, reports
// readiness, and drains on request.
type childRuntime struct {
	cfg       *Config
	log       *slog.Logger
	ctl       *os.File
	listeners []*graceful.Listener
	state     State

	ctlMu     sync.Mutex // serialises writes to ctl
	readyOnce sync.Once
	drainOnce sync.Once
	drainer   *drain.Sequence // the drain, shared with package overseertest
}

// runChild runs the program in a child process and returns once it is done
// and the connections it accepted are closed.
func runChild(c *Config) error {
	ch, err := newChild(c)
	if err != nil {
		return err
	}
	setRestarter(ch.requestRestart)
	setReexecRequester(func() { ch.send(msgReexec) })
	go ch.watchMaster()
	go ch.watchSignals()
	go ch.watchAccepting()
	if len(ch.listeners) == 0 {
		ch.ready()
	}
	ch.log.Debug("starting program")
	c.Program(ch.state)
	ch.finish()
	return nil
}

// newChild reads what the master passed in the environment and descriptors.
func newChild(c *Config) (*childRuntime, error) {
	id := os.Getenv(envChildID)
	n, err := strconv.Atoi(os.Getenv(envNumFDs))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("overseer child: bad %s=%q", envNumFDs, os.Getenv(envNumFDs))
	}
	listeners, packets, err := adoptSockets(n)
	if err != nil {
		return nil, err
	}
	log := c.Logger.With("role", "child", "child", id, "pid", os.Getpid())
	ch := newChildRuntime(c, log, adoptControl(ctlFD), os.Getenv(envBinID), listeners, packets)
	// The program's own subprocesses are not overseer children.
	for _, k := range []string{envChildID, envBinID, envBinPath, envNumFDs} {
		os.Unsetenv(k)
	}
	return ch, nil
}

// newChildRuntime builds the child role on its control channel and the
// sockets it inherited, whoever its master is.
func newChildRuntime(c *Config, log *slog.Logger, ctl *os.File, binID string, listeners []*graceful.Listener, packets []net.PacketConn) *childRuntime {
	ch := &childRuntime{
		cfg:       c,
		log:       log,
		ctl:       ctl,
		listeners: listeners,
		state: State{
			Enabled:          true,
			ID:               binID,
			StartedAt:        time.Now(),
			Address:          c.Address,
			Addresses:        c.Addresses,
			GracefulShutdown: make(chan bool),
			BinPath:          os.Getenv(envBinPath),
			PacketConns:      packets,
		},
	}
	ch.state.ready = ch.ready
	for _, l := range listeners {
		ch.state.Listeners = append(ch.state.Listeners, l)
	}
	if len(listeners) > 0 {
		ch.state.Listener = listeners[0]
	}
	ch.drainer = &drain.Sequence{Listeners: listeners, Shutdown: ch.state.GracefulShutdown, TerminateTimeout: c.TerminateTimeout, Log: log}
	return ch
}

// send writes one message to the master. A failure means the master is
// gone, which watchMaster handles.
func (ch *childRuntime) send(msg string) {
	ch.ctlMu.Lock()
	defer ch.ctlMu.Unlock()
	if _, err := ch.ctl.Write([]byte(msg + "\n")); err != nil {
		ch.log.Debug("control channel write failed", "msg", msg, "err", err)
	}
}

// ready reports readiness to the master, once.
func (ch *childRuntime) ready() {
	ch.readyOnce.Do(func() {
		ch.log.Debug("ready", "after", time.Since(ch.state.StartedAt))
		ch.send(msgReady)
	})
}

// requestRestart asks the master for a restart.
func (ch *childRuntime) requestRestart() { ch.send(msgRestart) }

// watchAccepting reports readiness when the program first calls Accept.
func (ch *childRuntime) watchAccepting() {
	cases := make(chan struct{}, len(ch.listeners))
	for _, l := range ch.listeners {
		go func(l *graceful.Listener) {
			<-l.Accepting()
			cases <- struct{}{}
		}(l)
	}
	if len(ch.listeners) > 0 {
		<-cases
		ch.ready()
	}
}

// watchMaster drains when the control channel ends: the master is gone.
func (ch *childRuntime) watchMaster() {
	// The master sends nothing today; anything it sends later is skipped.
	_, _ = io.Copy(io.Discard, ch.ctl)
	ch.log.Warn("master process is gone; draining")
	ch.drain(true)
}

// watchSignals drains on RestartSignal, SIGTERM or SIGINT.
func (ch *childRuntime) watchSignals() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, drainSignals(ch.cfg.RestartSignal)...)
	s := <-sigs
	ch.log.Debug("drain requested", "signal", s)
	ch.drain(s != ch.cfg.RestartSignal)
}

// drain runs the drain (see drain.Sequence.Drain), once. A drain that has
// not finished after TerminateTimeout ends the process.
func (ch *childRuntime) drain(final bool) {
	ch.drainOnce.Do(func() {
		time.AfterFunc(ch.cfg.TerminateTimeout, func() {
			ch.log.Error("drain did not finish within TerminateTimeout; exiting", "timeout", ch.cfg.TerminateTimeout, "open_connections", ch.openConnections())
			os.Exit(1)
		})
		ch.drainer.Drain(final)
	})
}

// finish runs after the program returns: it closes the listeners and
// waits, up to TerminateTimeout from the start of the drain, for the
// connections the program accepted to close at a request boundary.
func (ch *childRuntime) finish() {
	start, n := ch.drainer.Finish()
	if n > 0 {
		ch.log.Warn("exiting with connections still open", "open_connections", n)
	}
	ch.log.Debug("program done", "drain", time.Since(start))
}

// openConnections counts accepted connections not yet closed.
func (ch *childRuntime) openConnections() int { return ch.drainer.Open() }
