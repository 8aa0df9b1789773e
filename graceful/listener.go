package graceful

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
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
	stopped       chan struct{} // closed by StopAccepting or Close
	stopOnce      sync.Once
	isStopped     atomic.Bool   // stopped is closed; cheap to test on every Read
	endKeepAlive  atomic.Bool   // EndKeepAlives was called
	released      atomic.Bool   // closed by Release: Accept waits for requests in flight
	backlogUntil  atomic.Int64  // FinishBacklog: UnixNano after which to stop regardless
	closed        chan struct{} // closed by Close
	closeOnce     sync.Once
	closeErr      error

	mu        sync.Mutex
	inAccept  int // calls inside the underlying Accept: each may still yield a connection
	conns     map[*Conn]struct{}
	finishing bool          // Shutdown began: close connections at request boundaries
	changed   chan struct{} // closed and replaced whenever a connection settles or closes
}

// NewListener wraps l. The returned Listener owns l: closing it closes l.
func NewListener(l net.Listener) *Listener {
	return &Listener{
		Listener:  l,
		accepting: make(chan struct{}),
		stopped:   make(chan struct{}),
		closed:    make(chan struct{}),
		conns:     make(map[*Conn]struct{}),
		changed:   make(chan struct{}),
	}
}

// Accept waits for and returns the next connection, wrapped in a *Conn
// that is tracked until it is closed. A connection accepted after Close has
// begun is still returned and tracked: a connection the kernel handed to
// this process is never dropped silently.
//
// After StopAccepting, Accept blocks until Close or Release. Once the
// listener is closed, Accept returns an error that matches net.ErrClosed.
// After Release (not Close) it does so only when none of the connections
// it accepted is in the middle of a request: each is closed, or waits for
// the client's next request (or first request), or was upgraded to another
// protocol (an HTTP/1 101 response). A server loop such as http.Serve
// therefore returns only once the requests in flight are answered, so a
// program that exits as soon as Serve returns (log.Fatal(http.Serve(l,
// h))) loses none of them. A program that closes the listener itself
// (http.Server.Shutdown or Close does) gets its Accept error at once and
// keeps control of its own drain: Shutdown's context and Close's cut work
// as they do on any listener. Neither Close nor Release waits, so
// http.Server.Shutdown, which closes its listeners while holding the
// server's lock, cannot deadlock on them.
func (l *Listener) Accept() (net.Conn, error) {
	l.acceptingOnce.Do(func() { close(l.accepting) })
	l.armBacklogDeadline()
	l.mu.Lock()
	l.inAccept++
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	if err != nil {
		l.mu.Lock()
		l.inAccept--
		l.notifyIfStoppedLocked()
		l.mu.Unlock()
	}
	if err != nil && l.backlogUntil.Load() != 0 && isTimeout(err) {
		// FinishBacklog: nothing arrived for backlogIdle (or its time is
		// up), so the queue is empty: stop for good.
		l.StopAccepting()
	}
	if err != nil {
		select {
		case <-l.stopped:
			<-l.closed
			if l.released.Load() {
				l.awaitRequests()
			}
			return nil, &net.OpError{Op: "accept", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed}
		default:
			return nil, err
		}
	}
	tc := &Conn{Conn: c, owner: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.inAccept--
	l.notifyIfStoppedLocked()
	closing := l.finishing
	l.mu.Unlock()
	if closing {
		tc.finish()
	}
	return tc, nil
}

// Accepting returns a channel that is closed when a program first calls
// Accept: the moment the listener is being served.
func (l *Listener) Accepting() <-chan struct{} { return l.accepting }

// StopAccepting stops taking connections from the socket without making
// Accept fail: callers of Accept keep waiting until Close. A server loop
// therefore sees no error while the program is told to shut down, which is
// what lets http.Server.Shutdown return http.ErrServerClosed from Serve.
// Connections already accepted are not affected.
func (l *Listener) StopAccepting() {
	l.stopOnce.Do(func() {
		close(l.stopped)
		l.isStopped.Store(true)
		l.closeErr = l.Listener.Close()
	})
}

// FinishBacklog accepts the connections already waiting in the socket's
// queue, then stops accepting as StopAccepting does. Use it when the
// service stops for good and no other process holds the socket: a
// connection the kernel queued is answered instead of being reset when the
// socket closes. New connections are held off first by shrinking the
// socket's queue (the kernel drops their SYNs, so clients retry and are
// refused once the socket is closed). It stops after backlogIdle without a
// new connection, or after backlogMax in all.
//
// The queued connections are handed to whoever calls Accept, so call
// FinishBacklog while the program is still accepting, before telling it to
// shut down. It returns once the listener has stopped accepting; if nobody
// calls Accept it stops it itself shortly after backlogMax.
func (l *Listener) FinishBacklog() {
	select {
	case <-l.stopped:
		return
	default:
	}
	d, ok := l.Listener.(interface{ SetDeadline(time.Time) error })
	if !ok {
		l.StopAccepting()
		return
	}
	shrinkBacklog(l.Listener)
	l.backlogUntil.Store(time.Now().Add(backlogMax).UnixNano())
	// Wake an Accept that is waiting, so that it runs on the new deadline.
	_ = d.SetDeadline(time.Now().Add(backlogIdle))
	timer := time.NewTimer(backlogMax + backlogIdle*10)
	defer timer.Stop()
	select {
	case <-l.stopped:
	case <-timer.C:
		l.StopAccepting()
	}
}

// Backlog draining limits, see FinishBacklog.
const (
	backlogIdle = 2 * time.Millisecond
	backlogMax  = 100 * time.Millisecond
)

// armBacklogDeadline sets the accept deadline while FinishBacklog is
// draining the queue.
func (l *Listener) armBacklogDeadline() {
	until := l.backlogUntil.Load()
	if until == 0 {
		return
	}
	d, ok := l.Listener.(interface{ SetDeadline(time.Time) error })
	if !ok {
		return
	}
	deadline := time.Now().Add(backlogIdle)
	if limit := time.Unix(0, until); deadline.After(limit) {
		deadline = limit
	}
	_ = d.SetDeadline(deadline)
}

// Close stops accepting new connections and releases callers blocked in
// Accept. Connections already accepted stay open. Close is idempotent and
// does not block.
func (l *Listener) Close() error {
	l.StopAccepting()
	l.closeOnce.Do(func() { close(l.closed) })
	return l.closeErr
}

// Release closes the listener on behalf of a program that has not closed
// it itself at the end of a drain, such as one serving with plain
// http.Serve: as Close, except that Accept then returns its error only
// once no request is in flight (see Accept). It is idempotent and does not
// block.
func (l *Listener) Release() error {
	l.released.Store(true)
	return l.Close()
}

// Closed returns a channel that is closed when Close is called.
func (l *Listener) Closed() <-chan struct{} { return l.closed }

// Settle waits until no accepted connection is still waiting for its
// first request to be read, or until ctx is done (then it returns
// ctx.Err()). A server that is told to shut down after Settle has read the
// request of every connection it accepted, so none is dropped unanswered:
// http.Server.Shutdown, for one, drops a request it reads after it began.
//
// Call it after StopAccepting: it also waits for Accept calls still under
// way, since one may be returning a connection the kernel just handed over.
func (l *Listener) Settle(ctx context.Context) error {
	for {
		l.mu.Lock()
		fresh := l.inAccept
		for c := range l.conns {
			if !c.isSettled() {
				fresh++
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if fresh == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// awaitRequests waits until none of the accepted connections is in the
// middle of a request; see Accept.
func (l *Listener) awaitRequests() {
	for {
		l.mu.Lock()
		busy := false
		for c := range l.conns {
			if c.busy() {
				busy = true
				break
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if !busy {
			return
		}
		<-changed
	}
}

// EndKeepAlives makes every connection of the listener, from now on, mark
// the header of each HTTP/1.1 response it writes "Connection: close" (a
// response that says so already is left as it is). A client that reads
// such a response does not send another request on the connection, so it
// never races the server closing it: no request is lost and none has to be
// retried, even one that cannot be retried, such as a POST.
//
// Only the header is changed: the connection follows HTTP/1 framing
// exactly (Content-Length, chunked, HEAD, 1xx, 204, 304, pipelining) and
// never alters a byte of a body. A connection it does not recognise as
// HTTP/1 (TLS, HTTP/2), an HTTP/1.0 response, and a connection that
// switched protocols (101, CONNECT) are left untouched.
//
// Call it when a drain begins; WaitKeepAlivesEnded then waits for the
// clients to have been told.
func (l *Listener) EndKeepAlives() { l.endKeepAlive.Store(true) }

// WaitKeepAlivesEnded waits, after EndKeepAlives, until no client is
// likely to send another request on a connection of this listener: each
// connection is closed, or has written a response marked "Connection:
// close", or is not HTTP/1 as far as it can tell, or has waited for the
// client's next request for at least idle. It returns ctx.Err() if ctx
// ends first. A server that closes its idle connections after this (as
// http.Server.Shutdown does) closes only those the clients will not use or
// have left alone for idle.
func (l *Listener) WaitKeepAlivesEnded(ctx context.Context, idle time.Duration) error {
	idleSince := make(map[*Conn]time.Time)
	tick := time.NewTicker(keepAlivePoll)
	defer tick.Stop()
	for {
		now := time.Now()
		waiting := false
		l.mu.Lock()
		for c := range l.conns {
			ended, isIdle := c.keepAliveState()
			switch {
			case ended:
			case !isIdle:
				delete(idleSince, c)
				waiting = true
			default:
				since, ok := idleSince[c]
				if !ok {
					since = now
					idleSince[c] = now
				}
				if now.Sub(since) < idle {
					waiting = true
				}
			}
		}
		l.mu.Unlock()
		if !waiting {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// keepAlivePoll is how often WaitKeepAlivesEnded looks at the connections.
const keepAlivePoll = 2 * time.Millisecond

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
		n, changed := len(l.conns), l.changed
		l.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
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
	l.notifyLocked()
}

// notify wakes Settle and Wait to look again.
func (l *Listener) notify() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notifyLocked()
}

// notifyIfStoppedLocked wakes Settle, which only runs once the listener
// has stopped accepting; before that, accepting costs no notification.
func (l *Listener) notifyIfStoppedLocked() {
	select {
	case <-l.stopped:
		l.notifyLocked()
	default:
	}
}

// notifyLocked is notify with l.mu held.
func (l *Listener) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// farPast is a deadline that makes a blocked Read return at once.
var farPast = time.Unix(1, 0)
