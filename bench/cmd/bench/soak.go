package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/load"
	"github.com/seed-710818af/overseer/bench/internal/proc"
	"github.com/seed-710818af/overseer/bench/internal/report"
	"github.com/seed-710818af/overseer/bench/internal/service"
)

// soakSample is the master's resource use at one point of the soak.
type soakSample struct {
	label              string
	fds, threads, rss  int
	children, restarts int
}

// sampleMaster reads the master's fd count, threads, RSS and live children.
func sampleMaster(label string, pid, restarts int) soakSample {
	s := soakSample{label: label, restarts: restarts}
	s.fds, _ = proc.FDCount(pid)
	if st, err := proc.ReadStatus(pid); err == nil {
		s.threads, s.rss = st.Threads, st.RSSKB
	}
	s.children = len(proc.Children(pid))
	return s
}

// runSoak restarts one overseer variant o.restarts times under load (half
// the clients with keep-alive, half without). Each restart waits until a new
// process has answered and the old one is gone (each bounded to 10 s), so
// restarts never pile up. It reports failed requests and the master's fds,
// threads, memory and children over time, and what is left at the end.
func runSoak(ctx context.Context, o options, tracker *proc.Tracker, work string) error {
	vs := selected(o.binDir, o.soakVar)
	if len(vs) != 1 || !vs[0].HasMaster() {
		return fmt.Errorf("soak: %q is not an overseer variant", o.soakVar)
	}
	v := vs[0]
	logf, err := os.Create(filepath.Join(work, "logs", "soak.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	svc, err := service.Start(v, service.Options{Dir: work, Log: logf, TerminateTimeout: terminateTimeout, Tracker: tracker})
	if err != nil {
		return err
	}
	pids := &load.PidLog{OnNew: tracker.AddPid}
	defer func() { svc.Kill(pids.Pids()) }()
	if _, err := svc.WaitReady(10 * time.Second); err != nil {
		return err
	}
	samples := []soakSample{sampleMaster("idle, before load", svc.Pid, 0)}

	start := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	results := make(chan *load.Result, 1)
	go func() {
		results <- load.Run(loadCtx, load.Config{
			URL: svc.URL(0), Token: svc.Token, Clients: o.clients,
			KeepAlive: func(i int) bool { return i%2 == 0 },
			Timeout:   requestTimeout, MaxPerClient: 100_000_000, Pids: pids,
		}, start)
	}()
	service.CtxSleep(ctx, 500*time.Millisecond)
	samples = append(samples, sampleMaster("under load, before restarts", svc.Pid, 0))

	var handovers, drains, signals []time.Duration
	stuckNew, stuckOld := 0, 0
	deadline := start.Add(time.Duration(o.restarts) * 2 * time.Second) // 2 s per restart at worst
	done := 0
	for i := 1; i <= o.restarts && ctx.Err() == nil && time.Now().Before(deadline); i++ {
		old := proc.Youngest(svc.Pid)
		at := time.Since(start)
		if _, err := svc.Restart(); err != nil {
			return fmt.Errorf("soak: restart %d: %w", i, err)
		}
		done = i
		signals = append(signals, at)
		if _, ok := waitFor(ctx, 10*time.Second, func() bool { _, ok := pids.FirstAfter(at); return ok }); ok {
			n, _ := pids.FirstAfter(at)
			handovers = append(handovers, n.First-at)
		} else {
			stuckNew++
		}
		if _, ok := waitFor(ctx, 10*time.Second, func() bool { return !proc.Alive(old) }); ok {
			drains = append(drains, time.Since(start)-at)
		} else {
			stuckOld++
		}
		if i%100 == 0 || i == o.restarts {
			samples = append(samples, sampleMaster("under load", svc.Pid, i))
			fmt.Printf("  %d restarts, master fds %d threads %d RSS %.1f MB\n", i, samples[len(samples)-1].fds,
				samples[len(samples)-1].threads, float64(samples[len(samples)-1].rss)/1024)
		}
	}
	stopLoad()
	lr := <-results
	service.CtxSleep(ctx, time.Second)
	samples = append(samples, sampleMaster("idle, after load", svc.Pid, done))
	term := svc.Terminate(10*time.Second, pids.Pids())

	var counts load.Counts
	errs := map[load.Class]string{}
	var failKA, failNoKA, retriedKA int
	var sinceSignal []time.Duration
	for _, s := range lr.Samples {
		counts[s.Class]++
		if s.Class == load.Retried && s.KeepAlive {
			retriedKA++
		}
		if !s.Class.Failed() {
			continue
		}
		if errs[s.Class] == "" {
			errs[s.Class] = s.Err
		}
		if s.KeepAlive {
			failKA++
		} else {
			failNoKA++
		}
		if d, ok := sinceLast(signals, s.End()); ok {
			sinceSignal = append(sinceSignal, d)
		}
	}
	var b strings.Builder
	writeMachine(&b, "overseer soak: "+v.Label)
	fmt.Fprintf(&b, "%d restarts requested, %d sent, %d clients (half keep-alive), sleep 0, %s.\n\n", o.restarts, done, o.clients, time.Since(start).Round(time.Second))
	fmt.Fprintln(&b, "| requests | failed | failed by class | retried | handover p50/max ms | drain p50/max ms | no new process in 10 s | old process alive after 10 s | SIGTERM | left |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|---|---|")
	termCell := fmt.Sprintf("%.1f ms", float64(term.Took)/1e6)
	if term.Killed {
		termCell = "**SIGKILL needed**"
	}
	fmt.Fprintf(&b, "| %d | %d | %s | %d | %s | %s | %d | %d | %s | %d |\n\n", counts.Total(), counts.Failed(), classCell(counts), counts[load.Retried],
		msPair(handovers), msPair(drains), stuckNew, stuckOld, termCell, term.Left)
	fmt.Fprintln(&b, "Master process over time:")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| when | restarts | open fds | threads | RSS MB | live children |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|")
	for _, s := range samples {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f | %d |\n", s.label, s.restarts, s.fds, s.threads, float64(s.rss)/1024, s.children)
	}
	if counts.Failed()+counts[load.Retried] > 0 {
		fmt.Fprintf(&b, "\nFailed requests: %d from keep-alive clients, %d from keep-alive-off clients; they ended %s ms (median/max) after the last restart signal. Retried: %d from keep-alive clients, %d from the others.\n",
			failKA, failNoKA, msPair(sinceSignal), retriedKA, counts[load.Retried]-retriedKA)
	}
	for c, e := range errs {
		fmt.Fprintf(&b, "\n- %s, e.g.: %s", c, e)
	}
	fmt.Fprintln(&b)
	fmt.Print("\n" + b.String())
	return save(o.outDir, "soak", b.String())
}

// waitFor polls cond every millisecond for up to limit and returns how long
// it took and whether cond became true.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) (time.Duration, bool) {
	t0 := time.Now()
	for time.Since(t0) < limit && ctx.Err() == nil {
		if cond() {
			return time.Since(t0), true
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(t0), false
}

// msPair renders the median and maximum of ds in milliseconds.
func msPair(ds []time.Duration) string {
	if len(ds) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f/%.1f", float64(report.Percentile(ds, 50))/1e6, float64(report.Percentile(ds, 100))/1e6)
}

// classCell renders the non-zero failure classes.
func classCell(c load.Counts) string {
	var parts []string
	for _, k := range load.FailureClasses() {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// sinceLast returns t minus the latest signal at or before t.
func sinceLast(signals []time.Duration, t time.Duration) (time.Duration, bool) {
	i := sort.Search(len(signals), func(i int) bool { return signals[i] > t })
	if i == 0 {
		return 0, false
	}
	return t - signals[i-1], true
}
