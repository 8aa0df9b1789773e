// Package overseertest runs an overseer program inside a test, without
// forking: its Program gets a real overseer.State on real 127.0.0.1
// listeners, and the test can drain it exactly as a restart drains the old
// child. A program's own tests can so send requests, trigger a drain, and
// check that nothing was dropped:
//
//	c, err := overseertest.Start(overseertest.Options{}, prog)
//	if err != nil {
//		t.Fatal(err)
//	}
//	defer c.Close()
//	// ... requests in flight to c.Addr() ...
//	c.Drain()
//	if err := c.Wait(); err != nil {
//		t.Fatal(err)
//	}
//	// ... every request must have been answered ...
//
// The listeners are the *graceful.Listener wrappers a child's are, and
// Drain and Stop run the child's own drain code, not a copy of it. What a
// test process cannot reproduce: nothing else holds the sockets, so a
// connection that arrives after the drain is refused instead of waiting
// for the next child; goroutines the program leaves behind keep running,
// where a child's exit would end them (Wait reports the connections they
// hold); and overseer.Restart does nothing.
package overseertest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/graceful"
	"github.com/seed-710818af/overseer/internal/drain"
	"github.com/seed-710818af/overseer/internal/statehook"
)

// Options configure a Child.
type Options struct {
	// Addresses are the TCP addresses to listen on, one listener each;
	// the default is a single "127.0.0.1:0" (a free port). They become
	// State.Addresses, and State.Address is the first.
	Addresses []string
	// TerminateTimeout is Config.TerminateTimeout: the time the program
	// and its connections have to finish once a drain begins. The default
	// is 30 s, overseer's own.
	TerminateTimeout time.Duration
}

// DefaultTerminateTimeout is the TerminateTimeout when Options leave it
// zero, the same as overseer's.
const DefaultTerminateTimeout = 30 * time.Second

// Child is a program running in the test's process as if in an overseer
// child process.
type Child struct {
	// State is what the program was given.
	State overseer.State

	drain  *drain.Sequence
	done   chan struct{} // closed when the program has returned and Finish ran
	err    error         // why the child failed, set before done closes
	closed sync.Once

	ready     chan struct{} // closed by State.Ready or the first Accept
	readyOnce sync.Once
}

// ErrTerminated is wrapped by the error of Wait when the program, or its
// connections, did not finish within TerminateTimeout of the drain: a real
// child is ended at that point, which cuts every connection it still has.
var ErrTerminated = errors.New("overseertest: not finished within TerminateTimeout of the drain")

// Start opens the listeners and runs program on its own goroutine, the way
// an overseer child runs Config.Program. Close the Child when the test
// ends.
func Start(o Options, program func(overseer.State)) (*Child, error) {
	c, err := newChild(o)
	if err != nil {
		return nil, err
	}
	go c.watchAccepting()
	go c.run(program)
	return c, nil
}

// markReady records readiness, once.
func (c *Child) markReady() { c.readyOnce.Do(func() { close(c.ready) }) }

// watchAccepting marks the child ready when the program first calls
// Accept on any listener, as a child reports it to the master.
func (c *Child) watchAccepting() {
	cases := make([]<-chan struct{}, 0, len(c.State.Listeners))
	for _, l := range c.State.Listeners {
		cases = append(cases, l.(*graceful.Listener).Accepting())
	}
	first := make(chan struct{}, len(cases))
	for _, ch := range cases {
		go func(ch <-chan struct{}) {
			select {
			case <-ch:
				first <- struct{}{}
			case <-c.done:
			}
		}(ch)
	}
	select {
	case <-first:
		c.markReady()
	case <-c.done:
	}
}

// Ready is closed when the program is ready in the sense a restart waits
// for: it called State.Ready, or it first called Accept on one of its
// listeners.
func (c *Child) Ready() <-chan struct{} { return c.ready }

// newChild opens the listeners and builds the State.
func newChild(o Options) (*Child, error) {
	if len(o.Addresses) == 0 {
		o.Addresses = []string{"127.0.0.1:0"}
	}
	if o.TerminateTimeout <= 0 {
		o.TerminateTimeout = DefaultTerminateTimeout
	}
	c := &Child{
		State: overseer.State{
			Enabled:          true,
			StartedAt:        time.Now(),
			Address:          o.Addresses[0],
			Addresses:        o.Addresses,
			GracefulShutdown: make(chan bool),
		},
		done:  make(chan struct{}),
		ready: make(chan struct{}),
	}
	statehook.SetReady(&c.State, c.markReady)
	var listeners []*graceful.Listener
	for _, a := range o.Addresses {
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			return nil, fmt.Errorf("overseertest: listen on %s: %w", a, err)
		}
		gl := graceful.NewListener(l)
		listeners = append(listeners, gl)
		c.State.Listeners = append(c.State.Listeners, gl)
	}
	c.State.Listener = c.State.Listeners[0]
	if exe, err := os.Executable(); err == nil {
		c.State.BinPath = exe
		c.State.ID = fileHash(exe)
	}
	c.drain = &drain.Sequence{Listeners: listeners, Shutdown: c.State.GracefulShutdown, TerminateTimeout: o.TerminateTimeout}
	return c, nil
}

// fileHash returns the SHA-256 of a file in hex, as State.ID has it, or ""
// if it cannot be read.
func fileHash(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// run runs the program, then waits for its connections as a child does
// before it exits.
func (c *Child) run(program func(overseer.State)) {
	defer close(c.done)
	defer func() {
		// A panic ends a real child; here it fails Wait instead of the
		// whole test binary.
		if p := recover(); p != nil {
			c.err = fmt.Errorf("overseertest: the program panicked: %v\n%s", p, debug.Stack())
			for _, l := range c.State.Listeners {
				_ = l.Close()
			}
		}
	}()
	program(c.State)
	if start := c.drain.Started(); !start.IsZero() && time.Since(start) > c.drain.TerminateTimeout {
		c.err = fmt.Errorf("%w: the program returned %s after the drain began, past TerminateTimeout (%s)", ErrTerminated, time.Since(start).Round(time.Millisecond), c.drain.TerminateTimeout)
		return
	}
	from, open := c.drain.Finish()
	if open > 0 {
		c.err = fmt.Errorf("%w: the program returned, but %d connection(s) were still open %s after the drain began (they would be cut)", ErrTerminated, open, time.Since(from).Round(time.Millisecond))
	}
}

// Addr returns the address of the first listener, such as
// "127.0.0.1:41234".
func (c *Child) Addr() string { return c.State.Listener.Addr().String() }

// Connections returns the number of connections the program accepted and
// has not closed, on all its listeners.
func (c *Child) Connections() int { return c.drain.Open() }

// Drain does to the program what a restart does to the old child once the
// new one is ready: its listeners stop accepting (connections the kernel
// queues wait for the next child), every accepted connection gets its
// first request read, GracefulShutdown closes, and listeners the program
// has not closed itself within a few milliseconds are closed. It returns
// once GracefulShutdown is closed. Only the first Drain or Stop has an
// effect.
func (c *Child) Drain() { c.drain.Drain(false) }

// Stop does to the program what SIGTERM does to a child: as Drain, except
// that the connections already queued on the listeners are accepted (and
// so served) first, since no other process will take them.
func (c *Child) Stop() { c.drain.Drain(true) }

// Done is closed once the program has returned and its connections are
// closed (or TerminateTimeout of the drain has passed).
func (c *Child) Done() <-chan struct{} { return c.done }

// Wait waits until the program has returned and the connections it
// accepted are closed, which is when a child process exits, and returns
// why the child failed, if it did: an error wrapping ErrTerminated if that
// did not happen within TerminateTimeout of the drain (a real child is
// ended then, its connections cut), or an error for a panic. Before any
// drain, it waits at most TerminateTimeout from the call.
func (c *Child) Wait() error {
	start := c.drain.Started()
	if start.IsZero() {
		start = time.Now()
	}
	// The program's own deadline is checked when it returns; the grace
	// lets a program that returns at the last moment be told apart from
	// one that does not return at all.
	timer := time.NewTimer(time.Until(start.Add(c.drain.TerminateTimeout + waitGrace)))
	defer timer.Stop()
	select {
	case <-c.done:
		return c.err
	case <-timer.C:
		return fmt.Errorf("%w: the program had not returned after %s (%d connection(s) open)", ErrTerminated, c.drain.TerminateTimeout, c.drain.Open())
	}
}

// waitGrace is how long past TerminateTimeout Wait waits for a program to
// return.
const waitGrace = time.Second

// Close stops the program as SIGTERM would if it is still running, waits
// as Wait does, closes the listeners and returns what Wait returns. Later
// calls return nil.
func (c *Child) Close() error {
	var err error
	c.closed.Do(func() {
		c.Stop()
		err = c.Wait()
		for _, l := range c.State.Listeners {
			_ = l.Close()
		}
	})
	return err
}
