package graceful

import (
	"context"
	"net"
	"sync"
	"time"
)

// Listener is a net.Listener that tracks the connections it accepts.
//
// Close stops accepting and returns at once; it never waits for connections
// (waiting inside Close deadlocks http.Server.Shutdown, which holds its lock
// while closing listeners). Shutdown waits for them.
//
// All methods are safe for concurrent use.
type Listener struct {
	net.Listener

	accepting     chan struct{} // closed on the first call to Accept
	acceptingOnce sync.Once
	closeOnce     sync.Once
	closeErr      error

	mu        sync.Mutex
	conns     map[*Conn]struct{}
	finishing bool          // Shutdown began: close connections at request boundaries
	empty     chan struct{} // closed and replaced each time conns becomes empty
}

// NewListener wraps l. The returned Listener owns l: closing it closes l.
func NewListener(l net.Listener) *Listener {
	return &Listener{
		Listener:  l,
		accepting: make(chan struct{}),
		conns:     make(map[*Conn]struct{}),
		empty:     make(chan struct{}),
	}
}

// Accept waits for and returns the next connection, wrapped in a *Conn
// that is tracked until it is closed. A connection accepted after Close has
// begun is still returned and tracked: a connection the kernel handed to
// this process is never dropped silently.
func (l *Listener) Accept() (net.Conn, error) {
	l.acceptingOnce.Do(func() { close(l.accepting) })
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &Conn{Conn: c, owner: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	finishing := l.finishing
	l.mu.Unlock()
	if finishing {
		tc.finish()
	}
	return tc, nil
}

// Accepting returns a channel that is closed when a program first calls
// Accept: the moment the listener is being served.
func (l *Listener) Accepting() <-chan struct{} { return l.accepting }

// Close stops accepting new connections. Connections already accepted stay
// open. Close is idempotent and does not block.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// Active returns the number of accepted connections not yet closed.
func (l *Listener) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Shutdown closes the listener and waits until every connection it
// accepted is closed, or ctx is done. While it waits, each connection is
// closed at its next request boundary: when the server reads from it again
// after having written a response, with nothing new from the client. That
// finishes in-flight requests, and ends idle keep-alive connections without
// waiting for a timeout.
//
// Shutdown suits request/response protocols; call it once the program has
// stopped using the listener. It returns ctx.Err() if connections remain
// when ctx is done; they are left open.
func (l *Listener) Shutdown(ctx context.Context) error {
	_ = l.Close()
	l.mu.Lock()
	l.finishing = true
	conns := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.finish()
	}
	return l.Wait(ctx)
}

// Wait blocks until every accepted connection is closed or ctx is done,
// and returns ctx.Err() in the latter case. It does not close anything.
func (l *Listener) Wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		n, empty := len(l.conns), l.empty
		l.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-empty:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// forget removes c from the tracked set.
func (l *Listener) forget(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	if len(l.conns) == 0 {
		close(l.empty)
		l.empty = make(chan struct{})
	}
}

// farPast is a deadline that makes a blocked Read return at once.
var farPast = time.Unix(1, 0)
