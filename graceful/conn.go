package graceful

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Conn is a connection accepted by a Listener. It is removed from the
// listener's tracked set when closed.
//
// Conn watches its own traffic to find request boundaries: a Read that
// starts after the connection has written a response to everything it read
// waits for the client's next request. Once the listener is shutting down,
// such a Read ends the connection (it returns io.EOF) instead of waiting, so
// the server closes it between requests, never in the middle of one.
//
// Conn also follows HTTP/1 framing in both directions (see
// Listener.EndKeepAlives): once keep-alives are ended, each HTTP/1.1
// response whose header it writes gets "Connection: close", so the client
// does not send another request on it. It never changes any other byte,
// and leaves alone a connection whose traffic it does not recognise as
// HTTP/1 (TLS, HTTP/2) or that switched protocols.
type Conn struct {
	net.Conn
	owner *Listener

	mu           sync.Mutex
	wroteLast    bool         // the last event was a write, not data from the client
	first        firstRequest // the first request's bytes, until settled
	frame        http1Framer  // HTTP/1 messages in both directions
	settled      bool         // the first request has been read; see firstRequest
	reading      bool         // a Read is blocked
	readAtBound  bool         // the blocked Read started at a request boundary
	finishing    bool         // close at the next request boundary
	interrupted  bool         // finish() broke a blocked boundary Read
	readDeadline time.Time    // the deadline the server set, restored after an interrupt
	closeOnce    sync.Once
	closeErr     error
}

// Read reads from the connection; see the type's comment for how it ends
// connections at request boundaries during a shutdown.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	atBound := c.wroteLast
	if atBound && c.finishing {
		c.mu.Unlock()
		return c.readFinal(p)
	}
	c.reading, c.readAtBound = true, atBound
	settledNow := !c.settled && c.first.complete()
	if settledNow {
		c.settled = true
	}
	// A stopped listener's Accept may be waiting for this connection to
	// have no request in flight: tell it when it starts waiting for one.
	nowIdle := (atBound || !c.first.classified) && c.owner.isStopped.Load()
	c.mu.Unlock()
	if settledNow || nowIdle {
		c.owner.notify()
	}

	n, err := c.Conn.Read(p)

	c.mu.Lock()
	c.reading = false
	interrupted := c.interrupted
	c.interrupted = false
	if n > 0 {
		c.wroteLast = false
		if !c.settled {
			c.first.scan(p[:n])
		}
		if c.frame.mode == frameHTTP {
			c.frame.readRequest(p[:n])
		}
	}
	if interrupted {
		// finish() moved the deadline to break this Read; put back the
		// server's own deadline for whatever reads come next.
		_ = c.Conn.SetReadDeadline(c.readDeadline)
	}
	c.mu.Unlock()
	if interrupted && n == 0 && isTimeout(err) {
		return 0, io.EOF
	}
	return n, err
}

// readFinal is the Read at a request boundary during a shutdown: it
// returns data the client already sent, if any, and io.EOF otherwise.
func (c *Conn) readFinal(p []byte) (int, error) {
	c.mu.Lock()
	deadline := c.readDeadline
	c.mu.Unlock()
	if err := c.Conn.SetReadDeadline(farPast); err != nil {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	_ = c.Conn.SetReadDeadline(deadline)
	if n > 0 {
		c.mu.Lock()
		c.wroteLast = false
		if c.frame.mode == frameHTTP {
			c.frame.readRequest(p[:n])
		}
		c.mu.Unlock()
		return n, nil
	}
	if err == nil || isTimeout(err) {
		return 0, io.EOF
	}
	return 0, err
}

// Write writes to the connection and records that a response went out.
// Once keep-alives are ended, it adds "Connection: close" to the header of
// each HTTP/1.1 response that ends in p (see Listener.EndKeepAlives); the
// count it returns is of p's bytes only.
func (c *Conn) Write(p []byte) (int, error) {
	var marks []int
	c.mu.Lock()
	if c.frame.mode == frameHTTP {
		marks = c.frame.wroteResponse(p, c.owner.endKeepAlive.Load())
	}
	c.mu.Unlock()
	if marks != nil {
		return c.writeMarked(p, marks)
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.wrote()
	}
	return n, err
}

// writeMarked writes p with closeHeader inserted at each offset in marks,
// in one write, and returns how many of p's own bytes went out.
func (c *Conn) writeMarked(p []byte, marks []int) (int, error) {
	buf := make([]byte, 0, len(p)+len(marks)*len(closeHeader))
	last := 0
	for _, at := range marks {
		buf = append(append(buf, p[last:at]...), closeHeader...)
		last = at
	}
	buf = append(buf, p[last:]...)
	n, err := c.Conn.Write(buf)
	if n > 0 {
		c.wrote()
	}
	if n == len(buf) {
		return len(p), err
	}
	// A short write: count p's bytes among the n that went out.
	own, added := n, 0
	for _, at := range marks {
		if n <= at+added {
			break
		}
		own -= min(len(closeHeader), n-(at+added))
		added += len(closeHeader)
	}
	return own, err
}

// wrote records that a response (or part of one) went out.
func (c *Conn) wrote() {
	c.mu.Lock()
	c.wroteLast = true
	settledNow := !c.settled
	c.settled = true
	c.mu.Unlock()
	if settledNow {
		c.owner.notify()
	}
}

// ReadFrom copies r to the connection with the underlying connection's
// ReadFrom when it has one, so that net/http keeps using sendfile and
// splice for static files, and records that a response went out.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{c.Conn}, r)
	}
	if n > 0 {
		c.mu.Lock()
		c.frame.sentBody(n)
		c.mu.Unlock()
		c.wrote()
	}
	return n, err
}

// CloseWrite shuts down the writing side of the connection when the
// underlying connection supports it (TCP and Unix sockets do), so that
// net/http can close gracefully after a response without resetting a
// client that is still sending.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// SetDeadline sets both deadlines, remembering the read deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline and remembers it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// Close closes the connection and stops tracking it. It is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.owner.forget(c)
	})
	return c.closeErr
}

// Unwrap returns the underlying connection, for code that needs the
// concrete type (for example *net.TCPConn to set socket options).
func (c *Conn) Unwrap() net.Conn { return c.Conn }

// isSettled reports whether the connection's first request has been read.
func (c *Conn) isSettled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settled
}

// busy reports whether the connection is in the middle of a request: it
// is not blocked in a Read that waits for the client's next (or first)
// request, and has not switched to another protocol (an upgraded
// connection belongs to the program, and has no requests).
func (c *Conn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.idleLocked() && c.frame.mode != frameTunnel
}

// idleLocked reports whether the connection waits for the client's next
// (or first) request. c.mu is held.
func (c *Conn) idleLocked() bool {
	return c.reading && (c.readAtBound || !c.first.classified)
}

// keepAliveState reports whether the client was told not to reuse the
// connection, or is not following HTTP/1 keep-alive here at all (ended),
// and whether the connection waits for the client's next request (idle).
func (c *Conn) keepAliveState() (ended, idle bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frame.mode != frameHTTP || c.frame.closeSent, c.idleLocked()
}

// finish switches the connection to closing at its next request boundary
// and breaks a Read that is already waiting at one.
func (c *Conn) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finishing = true
	if c.reading && c.readAtBound && !c.interrupted {
		c.interrupted = true
		_ = c.Conn.SetReadDeadline(farPast)
	}
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
