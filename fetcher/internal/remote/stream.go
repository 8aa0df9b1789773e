package remote

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Errors a Stream reports (wrapped with the operation that failed).
var (
	// ErrTooLarge means the body is larger than the fetcher's size limit.
	ErrTooLarge = errors.New("body exceeds the size limit")
	// ErrReplaced means the object was replaced between the check that
	// found it and its download.
	ErrReplaced = errors.New("replaced during the download")
	// ErrStalled means a read, or waiting for the response, took longer
	// than the fetcher's timeout.
	ErrStalled = errors.New("stalled")
	// ErrDeadline means the whole download took longer than allowed.
	ErrDeadline = errors.New("download deadline exceeded")
	// ErrClosed means the reader was closed by its consumer.
	ErrClosed = errors.New("reader closed")
)

// Stream is the reader a network fetcher hands to the master. It streams a
// response body through, in order: stall detection, a raw size limit,
// optional hashing of the raw bytes, optional gzip decompression, and the
// size limit on what the consumer sees. Errors are wrapped with Op and
// sticky. Reaching a clean end calls Verify and then OnEOF; a failure calls
// OnError; Close calls neither.
//
// Read must be called from one goroutine at a time; Close may be called
// concurrently with Read, and unblocks it.
type Stream struct {
	// Op prefixes every error, e.g. "fetcher.HTTP: get https://host/app".
	Op string
	// Gunzip decompresses the body.
	Gunzip bool
	// MaxSize limits both the raw and the decompressed size. Zero means no
	// limit.
	MaxSize int64
	// Stall bounds how long opening the body, or a single read, may block.
	// Zero means no limit.
	Stall time.Duration
	// Deadline bounds the whole download, from opening the body to its
	// end. Zero means no limit.
	Deadline time.Duration
	// Verify, when set, is called at the end with the SHA-256 of the raw
	// (undecompressed) bytes; an error fails the stream.
	Verify func(rawSHA256 []byte) error
	// OnEOF is called once when the stream ended cleanly and verified.
	OnEOF func()
	// OnError is called once when the stream failed (not when closed).
	OnError func(error)

	open   func(ctx context.Context) (io.ReadCloser, error)
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	body   io.ReadCloser
	timers []*time.Timer

	closed atomic.Bool
	out    io.Reader // nil until started
	raw    *guard
	err    error // sticky result, only touched by the reading goroutine
}

// Lazy returns a Stream that calls open on its first Read. The context passed
// to open is cancelled when the stream stalls, fails, ends or is closed.
func Lazy(op string, open func(ctx context.Context) (io.ReadCloser, error)) *Stream {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Stream{Op: op, open: open, ctx: ctx, cancel: cancel}
}

// Opened returns a Stream over a body that is already open. ctx must be the
// context of the body's request and cancel must cancel it.
func Opened(op string, ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser) *Stream {
	s := &Stream{Op: op, ctx: ctx, cancel: cancel}
	s.open = func(context.Context) (io.ReadCloser, error) { return body, nil }
	s.body = body
	return s
}

// Read implements io.Reader.
func (s *Stream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("%s: %w", s.Op, ErrClosed)
	}
	if s.out == nil {
		if err := s.start(); err != nil {
			return 0, s.fail(err)
		}
	}
	n, err := s.out.Read(p)
	switch {
	case err == io.EOF:
		if verr := s.finish(); verr != nil {
			return n, s.fail(verr)
		}
		s.err = io.EOF
		return n, io.EOF
	case err != nil:
		return n, s.fail(err)
	}
	return n, nil
}

// Close releases the body and cancels any request in flight. It is safe to
// call more than once and concurrently with Read.
func (s *Stream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel(ErrClosed)
	s.release()
	return nil
}

// start opens the body and builds the reader chain.
func (s *Stream) start() error {
	if s.Deadline > 0 {
		s.addTimer(time.AfterFunc(s.Deadline, func() {
			s.cancel(fmt.Errorf("%w (%s)", ErrDeadline, s.Deadline))
		}))
	}
	s.raw = &guard{s: s}
	body, err := s.raw.do(func() (io.ReadCloser, error) { return s.open(s.ctx) })
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	s.raw.r = body
	s.raw.left = s.MaxSize
	if s.Verify != nil {
		s.raw.hash = sha256.New()
	}
	var out io.Reader = s.raw
	if s.Gunzip {
		zr, err := gzip.NewReader(s.raw)
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		out = &gunzip{zr: zr, raw: s.raw}
	}
	if s.MaxSize > 0 {
		out = &limited{r: out, left: s.MaxSize, max: s.MaxSize}
	}
	s.out = out
	return nil
}

// finish runs the end-of-stream checks and callbacks.
func (s *Stream) finish() error {
	if s.Verify != nil {
		if err := s.Verify(s.raw.hash.Sum(nil)); err != nil {
			return err
		}
	}
	s.release()
	s.cancel(nil)
	if s.OnEOF != nil {
		s.OnEOF()
	}
	return nil
}

// fail makes err sticky, wrapped with Op, and reports it once.
func (s *Stream) fail(err error) error {
	s.release()
	s.cancel(err)
	if s.closed.Load() {
		// Whatever broke, it broke because the consumer closed the stream.
		s.err = fmt.Errorf("%s: %w", s.Op, ErrClosed)
		return s.err
	}
	s.err = fmt.Errorf("%s: %w", s.Op, err)
	if s.OnError != nil {
		s.OnError(s.err)
	}
	return s.err
}

// release stops the timers and closes the body.
func (s *Stream) release() {
	s.mu.Lock()
	body, timers := s.body, s.timers
	s.body, s.timers = nil, nil
	s.mu.Unlock()
	for _, t := range timers {
		t.Stop()
	}
	if body != nil {
		body.Close()
	}
}

func (s *Stream) addTimer(t *time.Timer) {
	s.mu.Lock()
	s.timers = append(s.timers, t)
	s.mu.Unlock()
}

// guard is the innermost reader: it arms the stall timer around every read
// of the body, turns a cancelled read into the cause of the cancellation,
// enforces the raw size limit and hashes the raw bytes.
type guard struct {
	s     *Stream
	r     io.Reader
	left  int64
	timer *time.Timer
	hash  hash.Hash
	err   error // the last error returned, other than io.EOF
}

// do runs f with the stall timer armed.
func (g *guard) do(f func() (io.ReadCloser, error)) (io.ReadCloser, error) {
	g.arm()
	rc, err := f()
	g.disarm()
	if err != nil {
		return nil, g.cause(err)
	}
	return rc, nil
}

func (g *guard) Read(p []byte) (int, error) {
	if g.s.MaxSize > 0 && int64(len(p)) > g.left+1 {
		p = p[:g.left+1]
	}
	g.arm()
	n, err := g.r.Read(p)
	g.disarm()
	if g.s.MaxSize > 0 {
		g.left -= int64(n)
		if g.left < 0 {
			g.err = fmt.Errorf("%w of %d bytes", ErrTooLarge, g.s.MaxSize)
			return 0, g.err
		}
	}
	if g.hash != nil {
		g.hash.Write(p[:n])
	}
	if err != nil && err != io.EOF {
		err = g.cause(err)
		g.err = err
	}
	return n, err
}

func (g *guard) arm() {
	d := g.s.Stall
	if d <= 0 {
		return
	}
	if g.timer == nil {
		cause := fmt.Errorf("%w: no response for %s", ErrStalled, d)
		g.timer = time.AfterFunc(d, func() { g.s.cancel(cause) })
		g.s.addTimer(g.timer)
		return
	}
	g.timer.Reset(d)
}

func (g *guard) disarm() {
	if g.timer != nil {
		g.timer.Stop()
	}
}

// cause replaces an error caused by cancelling the context with the reason
// for the cancellation.
func (g *guard) cause(err error) error { return Cause(g.s.ctx, err) }

// gunzip labels decompression errors, leaving errors of the transport
// itself as they are.
type gunzip struct {
	zr  *gzip.Reader
	raw *guard
}

func (z *gunzip) Read(p []byte) (int, error) {
	n, err := z.zr.Read(p)
	if err != nil && err != io.EOF && err != z.raw.err {
		err = fmt.Errorf("gunzip: %w", err)
	}
	return n, err
}

// limited fails once more than max bytes have been read through it.
type limited struct {
	r         io.Reader
	left, max int64
}

func (l *limited) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, fmt.Errorf("%w of %d bytes", ErrTooLarge, l.max)
	}
	return n, err
}
