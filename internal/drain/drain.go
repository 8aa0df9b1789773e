// Package drain is how an overseer child stops serving: the sequence a
// restart or a stop runs on the program's listeners. The child process and
// package overseertest both run it, so a program's own tests exercise the
// very drain a real restart does.
package drain

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/graceful"
)

// Drain timing.
const (
	// SettleTimeout is the longest wait for accepted connections' first
	// requests (step 2 of Sequence.Drain).
	SettleTimeout = 2 * time.Second
	// ReleaseGrace is the time a program gets to close its listeners
	// itself once GracefulShutdown is closed (step 6).
	ReleaseGrace = 20 * time.Millisecond
	// KeepAliveIdle is how long a keep-alive connection may stay idle
	// before the drain goes on without its client being told to close
	// (step 4; graceful.DefaultIdleGrace, for the same reason).
	KeepAliveIdle = graceful.DefaultIdleGrace
	// KeepAliveTimeout is the longest wait for keep-alive clients to be
	// told to close (step 4).
	KeepAliveTimeout = time.Second
)

// Sequence drains one child: its listeners and its GracefulShutdown
// channel. Set the exported fields before the first call to a method; the
// methods are safe for concurrent use.
type Sequence struct {
	// Listeners are the child's listeners, State.Listeners.
	Listeners []*graceful.Listener
	// Shutdown is State.GracefulShutdown; Drain closes it.
	Shutdown chan bool
	// TerminateTimeout is Config.TerminateTimeout: how long the program
	// and its connections have, from the start of the drain.
	TerminateTimeout time.Duration
	// Log receives debug lines; nil discards them.
	Log *slog.Logger

	once    sync.Once
	mu      sync.Mutex
	started time.Time // zero until the drain begins
}

// Drain stops accepting and tells the program to finish, once; later
// calls return at once.
//
//  1. Keep-alives end: from now on every HTTP/1.1 response is marked
//     "Connection: close" on its way out, so clients stop reusing their
//     connections to this child (graceful.Listener.EndKeepAlives).
//  2. The listeners stop taking connections, but Accept does not fail yet,
//     so a server loop sees nothing unusual. When the service stops for
//     good (final), connections already queued on the socket are accepted
//     first: no other process will, and they would be reset.
//  3. Every accepted connection gets its first request read (Settle),
//     for at most SettleTimeout (and half of TerminateTimeout):
//     http.Server.Shutdown drops a request it reads after it began.
//  4. Every HTTP/1 client has been told to close, or has left its
//     connection idle for KeepAliveIdle (WaitKeepAlivesEnded), for at most
//     KeepAliveTimeout (and a quarter of TerminateTimeout):
//     http.Server.Shutdown closes idle connections at once, and a client
//     sending on one at that moment loses its request.
//  5. Shutdown closes.
//  6. A program that has not closed its listeners itself within
//     ReleaseGrace (it serves with plain http.Serve, say) has them
//     released (graceful.Listener.Release): its Accept returns once no
//     request is in flight there, and Program can return.
//
// Drain returns after step 5; step 6 runs on its own goroutine.
func (s *Sequence) Drain(final bool) {
	s.once.Do(func() {
		s.mu.Lock()
		s.started = time.Now()
		s.mu.Unlock()
		for _, l := range s.Listeners {
			l.EndKeepAlives()
		}
		var wg sync.WaitGroup
		for _, l := range s.Listeners {
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
		ctx, cancel := context.WithTimeout(context.Background(), min(SettleTimeout, s.TerminateTimeout/2))
		for _, l := range s.Listeners {
			if err := l.Settle(ctx); err != nil {
				s.log().Debug("connections still waiting for their first request", "err", err)
			}
		}
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), min(KeepAliveTimeout, s.TerminateTimeout/4))
		for _, l := range s.Listeners {
			if err := l.WaitKeepAlivesEnded(ctx, KeepAliveIdle); err != nil {
				s.log().Debug("keep-alive clients not all told to close", "err", err)
			}
		}
		cancel()
		close(s.Shutdown)
		go s.release()
	})
}

// release closes listeners the program has not closed within ReleaseGrace.
func (s *Sequence) release() {
	timer := time.NewTimer(ReleaseGrace)
	defer timer.Stop()
	for _, l := range s.Listeners {
		select {
		case <-l.Closed():
		case <-timer.C:
			for _, l := range s.Listeners {
				_ = l.Release()
			}
			return
		}
	}
}

// Started returns when the drain began, or the zero time if it has not.
func (s *Sequence) Started() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// Finish runs after the program returns: it closes the listeners and
// waits, up to TerminateTimeout from the start of the drain (from now if
// there was none), for the connections the program accepted to close at
// a request boundary. It returns when it began waiting and how many
// connections are still open; a child exits then, which cuts them.
func (s *Sequence) Finish() (from time.Time, open int) {
	from = s.Started()
	if from.IsZero() {
		from = time.Now()
	}
	ctx, cancel := context.WithDeadline(context.Background(), from.Add(s.TerminateTimeout))
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range s.Listeners {
		wg.Add(1)
		go func(l *graceful.Listener) {
			defer wg.Done()
			_ = l.Shutdown(ctx)
		}(l)
	}
	wg.Wait()
	return from, s.Open()
}

// Open counts accepted connections not yet closed.
func (s *Sequence) Open() int {
	n := 0
	for _, l := range s.Listeners {
		n += l.Active()
	}
	return n
}

// log is s.Log, or a logger that discards.
func (s *Sequence) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.Log
}
