package round

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/load"
	"github.com/seed-710818af/overseer/bench/internal/proc"
	"github.com/seed-710818af/overseer/bench/internal/service"
)

// Config configures one round.
type Config struct {
	Variant service.Variant
	Setting Setting
	// Clients is the number of concurrent clients.
	Clients int
	// Restarts are sent Spacing apart, the first one Warmup after the load
	// starts. Variants that cannot restart run under load for FloorLoad.
	Restarts  int
	Spacing   time.Duration
	Warmup    time.Duration
	FloorLoad time.Duration
	// Tail is the minimum time the load continues after the last restart.
	Tail time.Duration
	// HangAfter is the drain time from which a restart counts as hung; the
	// round waits up to this long for pending drains before SIGTERM.
	HangAfter time.Duration
	// TerminateTimeout is the library drain limit configured in the app.
	TerminateTimeout time.Duration
	// TermDeadline is how long SIGTERM gets before SIGKILL.
	TermDeadline time.Duration
	// RequestTimeout bounds every request.
	RequestTimeout time.Duration
	// Dir is the work directory (pid files, logs/).
	Dir string
	// Tag names the round's log file.
	Tag string
	// Tracker records every process for the final cleanup.
	Tracker *proc.Tracker
}

// Run executes one round. It never leaves a process of the round running:
// whatever survives SIGTERM is killed. ctx aborts the round early.
func Run(ctx context.Context, c Config) *Result {
	res := &Result{Variant: c.Variant, Setting: c.Setting, HangAfter: c.HangAfter}
	logf, err := os.Create(filepath.Join(c.Dir, "logs", c.Tag+".log"))
	if err != nil {
		res.Err = err
		return res
	}
	defer logf.Close()
	svc, err := service.Start(c.Variant, service.Options{
		Dir: c.Dir, Log: logf, TerminateTimeout: c.TerminateTimeout, Tracker: c.Tracker,
	})
	if err != nil {
		res.Err = err
		return res
	}
	pids := &load.PidLog{OnNew: c.Tracker.AddPid}
	defer func() { svc.Kill(pids.Pids()) }()
	first, err := svc.WaitReady(10 * time.Second)
	if err != nil {
		res.Err = err
		return res
	}
	c.Tracker.AddPid(first)
	if st, err := proc.ReadStatus(first); err == nil {
		res.IdleRSS = st.RSSKB
	}

	start := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	results := make(chan *load.Result, 1)
	go func() {
		results <- load.Run(loadCtx, load.Config{
			URL:          svc.URL(c.Setting.Sleep),
			Token:        svc.Token,
			Clients:      c.Clients,
			KeepAlive:    func(int) bool { return c.Setting.KeepAlive },
			Post:         c.Setting.Post,
			Timeout:      c.RequestTimeout,
			MaxPerClient: 10_000_000,
			Pids:         pids,
		}, start)
	}()

	w := &drainWatch{start: start, done: map[int]time.Duration{}}
	watchCtx, stopWatch := context.WithCancel(ctx)
	spawns := newSpawnWatch(svc, start)
	if c.Variant.Restart == service.NoRestart {
		service.CtxSleep(ctx, c.FloorLoad)
	} else {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			spawns.run(watchCtx)
		}()
		res.Restarts = restartLoop(ctx, c, svc, spawns, w, watchCtx, start)
		service.CtxSleep(ctx, c.Tail)
		w.waitPending(ctx, res.Restarts, c.HangAfter)
	}

	// Memory at the end of the load, then SIGTERM while requests are in flight.
	cur := first
	if p := spawns.newest(); p > 0 && c.Variant.Restart != service.NoRestart {
		cur = p
	}
	if st, err := proc.ReadStatus(cur); err == nil {
		res.ChildRSS = st.RSSKB
	}
	if c.Variant.HasMaster() {
		if st, err := proc.ReadStatus(svc.Pid); err == nil {
			res.MasterRSS, res.MasterThreads = st.RSSKB, st.Threads
		}
	}
	stopLoad()
	termAt := time.Since(start)
	if c.Variant.Restart != service.SignalPIDFile {
		res.Died, res.DiedHow = svc.ExitedBefore(start.Add(termAt))
	}
	stopWatch()
	w.wg.Wait()
	if ctx.Err() == nil {
		res.Term = svc.Terminate(c.TermDeadline, pids.Pids())
	}
	lr := <-results
	finish(res, lr, pids, w, termAt)
	res.Started = spawns.count()
	return res
}

// restartLoop sends c.Restarts evenly spaced restart signals and starts a
// drain watcher for every distinct old process.
func restartLoop(ctx context.Context, c Config, svc *service.Service, spawns *spawnWatch, w *drainWatch, watchCtx context.Context, start time.Time) []Restart {
	var out []Restart
	for i := 0; i < c.Restarts; i++ {
		at := c.Warmup + time.Duration(i)*c.Spacing
		if !service.CtxSleep(ctx, time.Until(start.Add(at))) {
			break
		}
		// The old process is the current one: the pid in tableflip's pid
		// file, or the youngest live child of the master.
		old := spawns.newest()
		if c.Variant.Restart == service.SignalPIDFile {
			old = svc.TermTarget()
		}
		rs := Restart{OldPid: old, wall: time.Now(), Signal: time.Since(start)}
		if _, err := svc.Restart(); err != nil {
			fmt.Fprintf(os.Stderr, "  restart %d of %s: %v\n", i, c.Variant.Name, err)
		}
		rs.Repeat = !w.watch(watchCtx, old, rs.Signal)
		out = append(out, rs)
	}
	return out
}

// finish fills the request counts and the per-restart figures.
func finish(res *Result, lr *load.Result, pids *load.PidLog, w *drainWatch, termAt time.Duration) {
	res.Samples = lr.Samples
	res.TermAt = termAt
	res.Errors, res.TermErrors = map[load.Class][]string{}, map[load.Class][]string{}
	note := func(m map[load.Class][]string, s load.Sample) {
		if s.Class.Failed() && len(m[s.Class]) < 3 {
			m[s.Class] = append(m[s.Class], s.Err)
		}
	}
	for _, s := range lr.Samples {
		if s.End() > termAt {
			res.AtTerm[s.Class]++
			note(res.TermErrors, s)
			continue
		}
		res.Counts[s.Class]++
		note(res.Errors, s)
		if !s.Class.Failed() {
			res.Latencies = append(res.Latencies, s.Latency)
		}
	}
	res.Served = len(pids.List())
	for i := range res.Restarts {
		rs := &res.Restarts[i]
		if n, ok := pids.FirstAfter(rs.Signal); ok {
			rs.NewPid = n.Pid
			rs.Handover = n.First - rs.Signal
			if n.Boot > 0 {
				rs.StartUp = time.Unix(0, n.Boot).Sub(rs.wall)
			}
		}
		rs.Drain, rs.Drained = w.result(rs.OldPid, rs.Signal, termAt)
	}
}

// drainWatch polls old processes until they are gone.
type drainWatch struct {
	start time.Time
	wg    sync.WaitGroup
	mu    sync.Mutex
	// done maps a watched pid to when it was gone (since start), or to -1
	// while it is still alive.
	done map[int]time.Duration
}

// watch starts watching pid unless it is already watched; it reports whether
// a new watch started.
func (w *drainWatch) watch(ctx context.Context, pid int, signal time.Duration) bool {
	if pid <= 0 {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.done[pid]; ok {
		return false
	}
	w.done[pid] = -1
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if !proc.Alive(pid) {
				w.mu.Lock()
				w.done[pid] = time.Since(w.start)
				w.mu.Unlock()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return true
}

// pending reports whether pid is watched and still alive.
func (w *drainWatch) pending(pid int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.done[pid]
	return ok && d < 0
}

// waitPending waits until every restart's old process is gone or has been
// draining for at least hangAfter.
func (w *drainWatch) waitPending(ctx context.Context, rs []Restart, hangAfter time.Duration) {
	for ctx.Err() == nil {
		now := time.Since(w.start)
		waiting := false
		for _, r := range rs {
			if !r.Repeat && w.pending(r.OldPid) && now-r.Signal < hangAfter {
				waiting = true
			}
		}
		if !waiting {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// result returns signal → pid gone, or signal → termAt and false when the
// pid was still alive when the watch ended.
func (w *drainWatch) result(pid int, signal, termAt time.Duration) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.done[pid]
	if !ok || d < 0 {
		return termAt - signal, false
	}
	return d - signal, true
}
