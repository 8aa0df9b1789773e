//go:build unix

package overseer

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// eventSink delivers events to Config.OnEvent on a goroutine of its own,
// so neither the event loop nor the fetcher ever waits for the callback.
// A nil *eventSink discards events. emit is safe for concurrent use.
type eventSink struct {
	ch      chan Event
	log     *slog.Logger
	pending atomic.Int64 // emitted and not yet delivered
}

// eventBacklog is how many undelivered events are kept before dropping.
const eventBacklog = 1024

// newEventSink starts delivering to fn; nil fn means no sink.
func newEventSink(fn func(Event), log *slog.Logger) *eventSink {
	if fn == nil {
		return nil
	}
	s := &eventSink{ch: make(chan Event, eventBacklog), log: log}
	go func() {
		for e := range s.ch {
			fn(e)
			s.pending.Add(-1)
		}
	}()
	return s
}

// emit queues e, stamped with the current time.
func (s *eventSink) emit(e Event) {
	if s == nil {
		return
	}
	e.Time = time.Now()
	s.pending.Add(1)
	select {
	case s.ch <- e:
	default:
		s.pending.Add(-1)
		s.log.Warn("OnEvent is not keeping up; event dropped", "kind", e.Kind)
	}
}

// flush waits, at most timeout, until every event emitted so far has been
// delivered: the master calls it before it re-executes itself, which
// would lose what is still queued.
func (s *eventSink) flush(timeout time.Duration) {
	if s == nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for s.pending.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// childEvent is an event about child c.
func childEvent(kind EventKind, c *childProcess) Event {
	return Event{Kind: kind, ChildID: c.id, PID: c.pid, BinaryID: c.binID}
}
