package integration

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackToBackRestartsWithLongRequests restarts ./examples/http2 (h2c
// and HTTP/1 through graceful.Serve) every 200ms while 16 clients send
// requests that take 2s, each on a new connection, at staggered times:
// every child gets some, so several old children drain at once.
// Each must exit when its last request ends; no request may fail; the
// master's memory and the service's total memory must stay bounded; and
// once the drains are over only the master and one child remain.
func TestBackToBackRestartsWithLongRequests(t *testing.T) {
	const workers, restarts, delay = 16, 10, 2 * time.Second
	s := start(t, build(t, "http2"), "-addr", freeAddr(t), "-h2c", "-delay", delay.String(), "-terminate", "20s")
	addr, pid := s.waitServing(20 * time.Second)
	time.Sleep(200 * time.Millisecond)
	masterStart, totalStart := rssKiB(s.pid()), totalRSS(s.pid())

	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Staggered, so that requests keep arriving.
			time.Sleep(time.Duration(w) * delay / workers)
			// A connection per request, so that each lands on the child
			// accepting at the time and every child gets some.
			client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for ctx.Err() == nil {
				resp, err := client.Get("http://" + addr + "/")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					t.Logf("GET: %v", err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(delay) // every worker has a request in flight

	mon := newDrainMonitor(s.pid())
	defer mon.stop()
	for r := 0; r < restarts; r++ {
		old, at := pid, time.Now()
		pid = s.restart()
		mon.watch(old, at)
		time.Sleep(200 * time.Millisecond)
	}
	// Every old child exits once its last request ends (delay after it
	// began, at most), far sooner than TerminateTimeout.
	drains, done := mon.wait(delay + 10*time.Second)
	if !done {
		t.Fatalf("old children still running: drains so far %v", drains)
	}
	maxProcs, maxTotal := mon.peaks()
	var longest time.Duration
	for _, d := range drains {
		longest = max(longest, d)
	}
	cancel()
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	masterEnd, totalEnd, procsEnd := rssKiB(s.pid()), totalRSS(s.pid()), len(group(s.pid()))
	mon.stop()
	t.Logf("back-to-back: %d restarts 200ms apart, %d connections each with a %s request: %d requests, %d failed; at most %d processes at once (master + children); restart→old child gone %v (longest %s); master RSS %d → %d KiB; total RSS %d KiB at start, %d KiB at peak, %d KiB after",
		restarts, workers, delay, ok.Load()+failed.Load(), failed.Load(), maxProcs, drains, longest, masterStart, masterEnd, totalStart, maxTotal, totalEnd)
	if failed.Load() != 0 {
		t.Errorf("%d failed requests, want none", failed.Load())
	}
	if maxProcs < 5 {
		t.Errorf("at most %d processes at once: old children did not drain side by side", maxProcs)
	}
	if procsEnd != 2 {
		t.Errorf("%d processes after the drains, want 2 (master and one child)", procsEnd)
	}
	if grew := masterEnd - masterStart; grew > 4<<10 {
		t.Errorf("master RSS grew by %d KiB over %d restarts", grew, restarts)
	}
	if totalEnd > totalStart+8<<10 {
		t.Errorf("total RSS %d KiB after the drains, %d KiB before: not bounded", totalEnd, totalStart)
	}
}

// TestBackToBackRestartsTerminateTimeout restarts a service whose
// requests outlast TerminateTimeout: each old child must be gone at
// TerminateTimeout, even with several draining at once.
func TestBackToBackRestartsTerminateTimeout(t *testing.T) {
	const restarts, terminate = 4, 2 * time.Second
	s := start(t, build(t, "http2"), "-addr", freeAddr(t), "-h2c", "-delay", "1m", "-terminate", terminate.String())
	addr, pid := s.waitServing(20 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	olds := map[int]time.Time{}
	for r := 0; r < restarts; r++ {
		// The previous child has stopped accepting: two requests that
		// outlast TerminateTimeout go to this one.
		time.Sleep(300 * time.Millisecond)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
				if resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		olds[pid] = time.Now()
		pid = s.restart()
	}
	var gone []time.Duration
	for old, at := range olds {
		if _, done := waitExit(old, terminate+5*time.Second); !done {
			t.Fatalf("old child %d still running %s after its restart (TerminateTimeout %s)", old, time.Since(at), terminate)
		}
		gone = append(gone, time.Since(at).Round(time.Millisecond))
	}
	t.Logf("TerminateTimeout %s: old children gone after %v", terminate, gone)
	for _, d := range gone {
		if d < terminate-100*time.Millisecond {
			t.Errorf("an old child with a request in flight was gone after %s, before TerminateTimeout", d)
		}
	}
}

// totalRSS sums the RSS of a master's process group, in KiB.
func totalRSS(pgid int) int64 {
	var sum int64
	for _, pid := range group(pgid) {
		sum += rssKiB(pid)
	}
	return sum
}

// drainMonitor samples a service's process group every 10ms: how many
// processes run, their total RSS, and when each watched old child exits.
type drainMonitor struct {
	pgid int
	quit chan struct{}
	done chan struct{}

	mu       sync.Mutex
	started  map[int]time.Time // old child → when its restart began
	gone     map[int]time.Duration
	maxProcs int
	maxRSS   int64
}

func newDrainMonitor(pgid int) *drainMonitor {
	m := &drainMonitor{pgid: pgid, quit: make(chan struct{}), done: make(chan struct{}), started: map[int]time.Time{}, gone: map[int]time.Duration{}}
	go m.run()
	return m
}

func (m *drainMonitor) run() {
	defer close(m.done)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
		}
		procs, rss := len(group(m.pgid)), totalRSS(m.pgid)
		m.mu.Lock()
		m.maxProcs, m.maxRSS = max(m.maxProcs, procs), max(m.maxRSS, rss)
		for pid, at := range m.started {
			if _, ok := m.gone[pid]; !ok && !alive(pid) {
				m.gone[pid] = time.Since(at).Round(time.Millisecond)
			}
		}
		m.mu.Unlock()
	}
}

// watch records that old began draining at.
func (m *drainMonitor) watch(old int, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started[old] = at
}

// wait waits until every watched child is gone, or timeout, and returns
// each one's time from restart to exit.
func (m *drainMonitor) wait(timeout time.Duration) ([]time.Duration, bool) {
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		m.mu.Lock()
		n := len(m.gone)
		var out []time.Duration
		for _, d := range m.gone {
			out = append(out, d)
		}
		all := n == len(m.started)
		m.mu.Unlock()
		if all || time.Now().After(deadline) {
			return out, all
		}
	}
}

// peaks returns the most processes and the most total RSS (KiB) seen.
func (m *drainMonitor) peaks() (int, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maxProcs, m.maxRSS
}

func (m *drainMonitor) stop() {
	select {
	case <-m.quit:
	default:
		close(m.quit)
	}
	<-m.done
}
