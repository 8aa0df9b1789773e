package round

import (
	"context"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/proc"
	"github.com/seed-710818af/overseer/bench/internal/service"
)

// spawnWatch records every process of a service as it appears, whether or
// not it ever answers a request: children of the master for overseer
// variants, members of the process group for tableflip. It is safe for
// concurrent use.
type spawnWatch struct {
	svc   *service.Service
	start time.Time

	mu    sync.Mutex
	first map[int]time.Duration // pid → first seen, since start
	order []int                 // pids in order of appearance
}

// newSpawnWatch returns a watch for svc; times are measured from start.
func newSpawnWatch(svc *service.Service, start time.Time) *spawnWatch {
	return &spawnWatch{svc: svc, start: start, first: map[int]time.Duration{}}
}

// run scans every 5 ms until ctx is done.
func (w *spawnWatch) run(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		w.scan()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// scan records the service processes running now.
func (w *spawnWatch) scan() {
	var pids []int
	switch w.svc.Variant.Restart {
	case service.SignalMaster:
		pids = proc.Children(w.svc.Pid)
	case service.SignalPIDFile:
		for _, s := range proc.All() {
			if s.Pgid == w.svc.Pid {
				pids = append(pids, s.Pid)
			}
		}
	}
	now := time.Since(w.start)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range pids {
		if _, ok := w.first[p]; !ok {
			w.first[p] = now
			w.order = append(w.order, p)
		}
	}
}

// newest scans once and returns the most recently appeared process that is
// still alive (0 when none is).
func (w *spawnWatch) newest() int {
	w.scan()
	w.mu.Lock()
	order := append([]int(nil), w.order...)
	w.mu.Unlock()
	for i := len(order) - 1; i >= 0; i-- {
		if proc.Alive(order[i]) {
			return order[i]
		}
	}
	return 0
}

// count is the number of processes seen.
func (w *spawnWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.order)
}
