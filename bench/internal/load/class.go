// Package load drives concurrent HTTP clients against a service and records
// the outcome of every request, counted honestly: a request is ok only when
// it got a 200 from a process of the service under test, without Go's
// transport silently re-sending it.
package load

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Class is the outcome of one request.
type Class uint8

const (
	// OK is a 200 from the service on the first attempt.
	OK Class = iota
	// Retried is a 200 that Go's transport got only after silently
	// re-sending the request on a fresh connection. A client that cannot
	// retry (a POST) would have seen an error.
	Retried
	// Refused is a connection refused (no listener, or accept queue gone).
	Refused
	// Reset is a connection reset (or broken pipe) by the server.
	Reset
	// EOF is a connection closed by the server without a (complete) response.
	EOF
	// Timeout is a request that exceeded the client timeout.
	Timeout
	// Non200 is a response with a status other than 200.
	Non200
	// Foreign is a 200 from a process that is not part of the service.
	Foreign
	// Other is any other error.
	Other
	numClasses
)

// String returns the short name used in tables.
func (c Class) String() string {
	return [...]string{"ok", "retried", "refused", "reset", "EOF", "timeout", "non-200", "foreign", "other"}[c]
}

// Failed reports whether c is a failure (anything but OK and Retried).
func (c Class) Failed() bool { return c != OK && c != Retried }

// FailureClasses lists the failure classes in table order.
func FailureClasses() []Class {
	return []Class{Refused, Reset, EOF, Timeout, Non200, Foreign, Other}
}

// classify maps a transport or body-read error to a failure class.
func classify(err error) Class {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EOF
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return Timeout
	default:
		return Other
	}
}

// Counts tallies requests by class.
type Counts [numClasses]int

// Add merges o into c.
func (c *Counts) Add(o Counts) {
	for i := range c {
		c[i] += o[i]
	}
}

// Total is the number of requests counted.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Failed is the number of failed requests.
func (c Counts) Failed() int {
	n := 0
	for _, k := range FailureClasses() {
		n += c[k]
	}
	return n
}
