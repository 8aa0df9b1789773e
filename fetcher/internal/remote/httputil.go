package remote

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// NewClient returns the client a fetcher uses when none is configured: the
// standard transport's dial and TLS handshake timeouts, an overall limit on
// waiting for response headers, and no limit on the whole exchange (the
// fetchers bound downloads by stalls instead, so a large binary on a slow
// link is not cut off).
func NewClient(headerTimeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = headerTimeout
	t.MaxIdleConnsPerHost = 2
	return &http.Client{Transport: t}
}

// Display returns u without user information or query, for error messages
// and logs: both can hold credentials (presigned URLs, basic auth).
func Display(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}

// StatusError describes an unexpected HTTP status.
func StatusError(resp *http.Response) error {
	return fmt.Errorf("unexpected status %q", resp.Status)
}

// Call is an HTTP request in flight, bounded by a timeout that keeps
// running until Close or Detach.
type Call struct {
	// Resp is the response; its body is bounded by the timeout too.
	Resp *http.Response
	// Ctx is the request's context; Cancel cancels it with a cause.
	Ctx    context.Context
	Cancel context.CancelCauseFunc
	timer  *time.Timer
}

// Do sends req with a context that is cancelled after timeout (zero means
// no timeout) and returns the call. The timeout covers the whole exchange,
// reading the body included, unless the caller calls Detach. An error
// caused by the timeout says so.
func Do(client *http.Client, req *http.Request, timeout time.Duration) (*Call, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	c := &Call{Ctx: ctx, Cancel: cancel}
	if timeout > 0 {
		cause := fmt.Errorf("%w: no complete response within %s", ErrStalled, timeout)
		c.timer = time.AfterFunc(timeout, func() { cancel(cause) })
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		err = Cause(ctx, err)
		c.Close()
		return nil, err
	}
	c.Resp = resp
	return c, nil
}

// Detach stops the timeout, for a body that is then streamed under its own
// stall detection. The caller still owns the body and the context.
func (c *Call) Detach() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

// Close stops the timeout, closes the body and cancels the context.
func (c *Call) Close() {
	c.Detach()
	if c.Resp != nil {
		c.Resp.Body.Close()
	}
	c.Cancel(nil)
}

// Discard drains a little of the body, so that the connection can be
// reused, then closes the call.
func (c *Call) Discard() {
	io.CopyN(io.Discard, c.Resp.Body, 4<<10)
	c.Close()
}

// Cause replaces an error caused by cancelling ctx with the reason for the
// cancellation (a timeout, a stall, the consumer closing the reader).
func Cause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if c := context.Cause(ctx); c != nil && c != context.Canceled && c != context.DeadlineExceeded {
			return c
		}
	}
	return err
}

// ReadSmall reads a small body (a signature, a checksums file, release
// metadata) with a size limit, bounded in time by the request's context.
func ReadSmall(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// LogBackoff tells the operator that a fetcher keeps failing and is waiting
// longer between attempts. It logs from the second consecutive failure on.
func LogBackoff(op string, failures int, next time.Duration, err error) {
	if failures < 2 {
		return
	}
	slog.Default().Warn(op+": polling keeps failing, backing off",
		"failures", failures, "next_attempt_in", next.Round(time.Second), "error", err)
}
