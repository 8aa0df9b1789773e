package remote

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Jitter is the fraction by which every wait is randomly lengthened or
// shortened, so that a fleet of services started together does not poll in
// lock step.
const Jitter = 0.1

// MaxBackoff caps the wait after repeated failures (but a wait is never
// shorter than the interval itself).
const MaxBackoff = time.Hour

// MaxAgain is how many polls in a row Again lets start at once; after
// that, a version that keeps changing under the fetcher waits like a
// failure.
const MaxAgain = 3

// maxBackoffFactor caps the exponential backoff at this multiple of the
// interval.
const maxBackoffFactor = 16

// Pacer decides how long a fetcher sleeps before each poll. The first poll
// does not wait; after a success the wait is the interval; after n
// consecutive failures it is interval × 2^n, capped at 16 × interval and at
// MaxBackoff; a server-imposed time (a rate-limit reset) overrides both. All
// waits are jittered by ±Jitter.
//
// Its methods are safe for concurrent use: failures may be reported by a
// reader that is consumed on another goroutine.
type Pacer struct {
	// Interval is the normal time between polls. Must be positive.
	Interval time.Duration
	// Sleep replaces time.Sleep (tests).
	Sleep func(time.Duration)

	mu        sync.Mutex
	started   bool
	failures  int
	notBefore time.Time
	again     int  // polls in a row cut short by Again
	now       bool // the next poll starts without waiting
}

// Wait blocks until the next poll is due, and reports how long it slept.
func (p *Pacer) Wait() time.Duration {
	d := p.Next(time.Now())
	if d <= 0 {
		return 0
	}
	if p.Sleep != nil {
		p.Sleep(d)
	} else {
		time.Sleep(d)
	}
	return d
}

// Next reports how long the poll about to start at now must wait, and marks
// the pacer as started.
func (p *Pacer) Next(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.started = true
		return 0
	}
	if p.now {
		p.now = false
		return 0
	}
	if !p.notBefore.IsZero() {
		until := p.notBefore
		p.notBefore = time.Time{}
		if d := until.Sub(now); d > 0 {
			return d
		}
	}
	return jitter(p.delayLocked())
}

// delayLocked is the un-jittered wait for the current failure count.
func (p *Pacer) delayLocked() time.Duration {
	d := p.Interval
	limit := p.Interval * maxBackoffFactor
	if limit > MaxBackoff {
		limit = MaxBackoff
	}
	for i := 0; i < p.failures && d < limit; i++ {
		d *= 2
	}
	if d > limit && limit > p.Interval {
		d = limit
	}
	return d
}

// Succeeded resets the backoff.
func (p *Pacer) Succeeded() {
	p.mu.Lock()
	p.failures = 0
	p.again = 0
	p.mu.Unlock()
}

// Again makes the next poll start at once, because the version just seen
// was replaced while it was being downloaded (S3 answers 412 to the
// download's If-Match): the next poll finds the new one. It reports false,
// and changes nothing, when the last MaxAgain polls already ended this
// way; the caller then counts a failure.
func (p *Pacer) Again() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.again >= MaxAgain {
		p.again = 0
		return false
	}
	p.again++
	p.now = true
	return true
}

// Failed lengthens the next wait. It returns the number of consecutive
// failures so far and the (un-jittered) wait before the next poll.
func (p *Pacer) Failed() (failures int, next time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures < 64 {
		p.failures++
	}
	return p.failures, p.delayLocked()
}

// Until makes the next poll wait until t (a rate-limit reset), unless t has
// already passed by then.
func (p *Pacer) Until(t time.Time) {
	p.mu.Lock()
	p.notBefore = t
	p.mu.Unlock()
}

// jitter returns d randomly scaled into [d×(1-Jitter), d×(1+Jitter)].
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	f := 1 + Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}
