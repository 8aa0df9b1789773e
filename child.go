//go:build unix

package overseer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/graceful"
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

	drainMu      sync.Mutex
	drainStarted time.Time // zero until the drain begins
}

// runChild runs the program in a child process and returns once it is done
// and the connections it accepted are closed.
func runChild(c *Config) error {
	ch, err := newChild(c)
	if err != nil {
		return err
	}
	setRestarter(ch.requestRestart)
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
	ch := &childRuntime{
		cfg: c,
		log: c.Logger.With("role", "child", "child", id, "pid", os.Getpid()),
		ctl: adoptControl(ctlFD),
		state: State{
			Enabled:          true,
			ID:               os.Getenv(envBinID),
			StartedAt:        time.Now(),
			Address:          c.Address,
			Addresses:        c.Addresses,
			GracefulShutdown: make(chan bool),
			BinPath:          os.Getenv(envBinPath),
		},
	}
	ch.state.ready = ch.ready
	listeners, packets, err := adoptSockets(n)
	if err != nil {
		return nil, err
	}
	for _, gl := range listeners {
		ch.listeners = append(ch.listeners, gl)
		ch.state.Listeners = append(ch.state.Listeners, gl)
	}
	if len(ch.state.Listeners) > 0 {
		ch.state.Listener = ch.state.Listeners[0]
	}
	ch.state.PacketConns = packets
	// The program's own subprocesses are not overseer children.
	for _, k := range []string{envChildID, envBinID, envBinPath, envNumFDs} {
		os.Unsetenv(k)
	}
	return ch, nil
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

// drain stops accepting and tells the program to finish, once:
//
//  1. Keep-alives end: from now on every HTTP/1.1 response is marked
//     "Connection: close" on its way out, so clients stop reusing their
//     connections to this child (graceful.Listener.EndKeepAlives).
//  2. The listeners stop taking connections, but Accept does not fail yet,
//     so a server loop sees nothing unusual. When the service stops for
//     good (final), connections already queued on the socket are accepted
//     first: no other process will, and they would be reset.
//  3. Every accepted connection gets its first request read (Settle),
//     for at most settleTimeout: http.Server.Shutdown drops a request it
//     reads after it began.
//  4. Every HTTP/1 client has been told to close, or has left its
//     connection idle for keepAliveIdle (WaitKeepAlivesEnded), for at most
//     keepAliveTimeout: http.Server.Shutdown closes idle connections at
//     once, and a client sending on one at that moment loses its request.
//  5. GracefulShutdown closes.
//  6. A program that has not closed its listeners itself within
//     releaseGrace (it serves with plain http.Serve, say) has them closed;
//     its Accept returns once no request is in flight there, and Program
//     can return.
//
// A drain that has not finished after TerminateTimeout ends the process.
func (ch *childRuntime) drain(final bool) {
	ch.drainOnce.Do(func() {
		ch.drainMu.Lock()
		ch.drainStarted = time.Now()
		ch.drainMu.Unlock()
		time.AfterFunc(ch.cfg.TerminateTimeout, func() {
			ch.log.Error("drain did not finish within TerminateTimeout; exiting", "timeout", ch.cfg.TerminateTimeout, "open_connections", ch.openConnections())
			os.Exit(1)
		})
		for _, l := range ch.listeners {
			l.EndKeepAlives()
		}
		var wg sync.WaitGroup
		for _, l := range ch.listeners {
			if !final {
				l.StopAccepting()
				continue
			}
			wg.Add(1)
			go func(l *graceful.Listener) {
				defer wg.Done()
				l.FinishBacklog() // bounded: see graceful.Listener.FinishBacklog
			}(l)
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), min(settleTimeout, ch.cfg.TerminateTimeout/2))
		for _, l := range ch.listeners {
			if err := l.Settle(ctx); err != nil {
				ch.log.Debug("connections still waiting for their first request", "err", err)
			}
		}
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), min(keepAliveTimeout, ch.cfg.TerminateTimeout/4))
		for _, l := range ch.listeners {
			if err := l.WaitKeepAlivesEnded(ctx, keepAliveIdle); err != nil {
				ch.log.Debug("keep-alive clients not all told to close", "err", err)
			}
		}
		cancel()
		close(ch.state.GracefulShutdown)
		go ch.release()
	})
}

// Drain timing.
const (
	settleTimeout = 2 * time.Second       // longest wait for accepted connections' first requests
	releaseGrace  = 20 * time.Millisecond // time a program gets to close its listeners itself
	// keepAliveIdle is how long a keep-alive connection may stay idle
	// before the drain goes on without its client being told to close
	// (graceful.DefaultIdleGrace, for the same reason).
	keepAliveIdle    = graceful.DefaultIdleGrace
	keepAliveTimeout = time.Second // longest wait for keep-alive clients to be told
)

// release closes listeners the program has not closed within releaseGrace.
func (ch *childRuntime) release() {
	timer := time.NewTimer(releaseGrace)
	defer timer.Stop()
	for _, l := range ch.listeners {
		select {
		case <-l.Closed():
		case <-timer.C:
			for _, l := range ch.listeners {
				_ = l.Close()
			}
			return
		}
	}
}

// finish runs after the program returns: it closes the listeners and
// waits, up to TerminateTimeout from the start of the drain, for the
// connections the program accepted to close at a request boundary.
func (ch *childRuntime) finish() {
	ch.drainMu.Lock()
	start := ch.drainStarted
	ch.drainMu.Unlock()
	if start.IsZero() {
		start = time.Now()
	}
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(ch.cfg.TerminateTimeout))
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range ch.listeners {
		wg.Add(1)
		go func(l *graceful.Listener) {
			defer wg.Done()
			_ = l.Shutdown(ctx)
		}(l)
	}
	wg.Wait()
	if n := ch.openConnections(); n > 0 {
		ch.log.Warn("exiting with connections still open", "open_connections", n)
	}
	ch.log.Debug("program done", "drain", time.Since(start))
}

// openConnections counts accepted connections not yet closed.
func (ch *childRuntime) openConnections() int {
	n := 0
	for _, l := range ch.listeners {
		n += l.Active()
	}
	return n
}
