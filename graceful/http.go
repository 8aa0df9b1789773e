package graceful

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultIdleGrace is how long Serve lets a keep-alive connection stay idle
// during a drain before closing it. A busy client sends its next request
// well within it and gets a response with "Connection: close"; a client
// that is closing anyway loses nothing.
const DefaultIdleGrace = 100 * time.Millisecond

// DefaultNewConnGrace is how long Serve lets a connection that has not sent
// its first request stay open during a drain. It is longer than the idle
// grace because clients do not retry a request that fails on a connection
// they never used (Go's transport, for one, opens spare connections that
// wait in its pool), so closing one early is riskier.
const DefaultNewConnGrace = time.Second

// Serve serves HTTP on l with srv until drain is closed (or receives a
// value), then drains srv and returns nil once every connection is closed.
//
// The drain loses no request and makes no client retry: Serve stops
// accepting, lets in-flight requests finish, answers every request that
// arrives on an open connection with "Connection: close" so the client
// knows not to reuse it, and closes connections that stay idle for
// DefaultIdleGrace (DefaultNewConnGrace for connections that have not sent a
// request yet). Nothing is closed while a request is on it.
//
// HTTP/2 connections (over TLS, or h2c with http.Server.Protocols) are
// drained by HTTP/2's own means: once the HTTP/1 connections are gone,
// Serve calls srv.Shutdown, which sends each a GOAWAY, lets the streams in
// flight finish and then closes it; the client opens its next stream on a
// new connection, to the new process. Serve knows a connection is HTTP/2
// from its first request; one that has not carried a request when the
// drain starts is treated as an unused connection.
//
// Serve sets srv.Handler's wrapper and the srv.ConnState and
// srv.ConnContext hooks for the call (the previous hooks, if any, are still
// called) and must not be used with a server that is serving elsewhere. If srv.Serve fails before the drain,
// Serve returns its error. The drain has no deadline of its own: the process
// supervising it (overseer's TerminateTimeout) bounds it.
//
// Use it with overseer as:
//
//	func program(state overseer.State) {
//		srv := &http.Server{Handler: handler}
//		graceful.Serve(srv, state.Listener, state.GracefulShutdown)
//	}
func Serve(srv *http.Server, l net.Listener, drain <-chan bool) error {
	d := newDrainer(srv, DefaultIdleGrace, DefaultNewConnGrace)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-drain:
	}
	d.start()
	_ = l.Close()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	d.wait()
	// Only HTTP/2 connections are left, if any: Shutdown sends them GOAWAY
	// and waits for their streams (otherwise it only marks srv as closed).
	// The supervising process bounds the wait.
	return srv.Shutdown(context.Background())
}

// drainer tracks a server's connections through its ConnState hook and
// closes them one by one once the drain starts.
type drainer struct {
	idleGrace    time.Duration // for connections idle between requests
	newConnGrace time.Duration // for connections that never sent a request

	mu       sync.Mutex
	draining bool
	conns    map[net.Conn]*connInfo
	changed  chan struct{} // closed and replaced on every state change
}

// connInfo is what the drainer knows about one connection.
type connInfo struct {
	state     http.ConnState
	idleSince time.Time
	http2     bool // it carried an HTTP/2 request: srv.Shutdown drains it
}

// connKey is the context key under which newDrainer's ConnContext stores
// the request's connection.
type connKey struct{}

// newDrainer installs its hooks on srv.
func newDrainer(srv *http.Server, idleGrace, newConnGrace time.Duration) *drainer {
	d := &drainer{idleGrace: idleGrace, newConnGrace: newConnGrace, conns: make(map[net.Conn]*connInfo), changed: make(chan struct{})}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		d.track(c, s)
		if next != nil {
			next(c, s)
		}
	}
	nextCtx := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if nextCtx != nil {
			ctx = nextCtx(ctx, c)
		}
		return context.WithValue(ctx, connKey{}, c)
	}
	handler := srv.Handler
	if handler == nil {
		handler = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ProtoMajor == 2:
			if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
				d.markHTTP2(c)
			}
		case d.isDraining():
			w.Header().Set("Connection", "close")
		}
		handler.ServeHTTP(w, r)
	})
	return d
}

// track records a connection's new state.
func (d *drainer) track(c net.Conn, s http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(d.conns, c)
	default:
		info := d.conns[c]
		if info == nil {
			info = &connInfo{}
			d.conns[c] = info
		}
		info.state = s
		if s == http.StateIdle || s == http.StateNew {
			info.idleSince = time.Now()
		}
	}
	close(d.changed)
	d.changed = make(chan struct{})
}

// markHTTP2 records that c carries HTTP/2. net/http reports such a
// connection idle between streams, but closing it then races with a stream
// the client is opening; the drainer leaves it to srv.Shutdown, whose
// GOAWAY tells the client which streams were not processed.
func (d *drainer) markHTTP2(c net.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if info := d.conns[c]; info != nil && !info.http2 {
		info.http2 = true
		close(d.changed)
		d.changed = make(chan struct{})
	}
}

// isDraining reports whether the drain has started.
func (d *drainer) isDraining() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.draining
}

// start begins the drain.
func (d *drainer) start() {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
}

// wait closes connections as they pass the idle grace and returns when
// none is left but HTTP/2 ones. Active connections close themselves after their response,
// which carries "Connection: close".
func (d *drainer) wait() {
	for {
		d.mu.Lock()
		left := 0
		for _, info := range d.conns {
			if !info.http2 {
				left++
			}
		}
		if left == 0 {
			d.mu.Unlock()
			return
		}
		now := time.Now()
		next := d.newConnGrace
		for c, info := range d.conns {
			if info.http2 {
				continue
			}
			grace := d.idleGrace
			switch info.state {
			case http.StateIdle:
			case http.StateNew:
				grace = d.newConnGrace
			default:
				continue
			}
			if idle := now.Sub(info.idleSince); idle >= grace {
				_ = c.Close()
			} else if left := grace - idle; left < next {
				next = left
			}
		}
		changed := d.changed
		d.mu.Unlock()
		timer := time.NewTimer(next)
		select {
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}
