package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/load"
	"github.com/seed-710818af/overseer/bench/internal/proc"
	"github.com/seed-710818af/overseer/bench/internal/service"
)

// upgradeResult is one publish → serving measurement.
type upgradeResult struct {
	version   string
	size      int64
	latency   time.Duration // publish (rename) → first response from the new version
	ok        bool
	failed    int // failed requests between this publish and the next
	retried   int
	peakRSSKB int // master VmRSS peak between this publish and the next
}

// runUpgrade measures upgrade latency through fetcher.File: it builds
// apps/oursupgrade o.upgrades+1 times (versions v1, v2, ...), pads each
// binary to o.padMB MB with random bytes appended after the ELF image, runs
// v1 under light load, and publishes each next version by an atomic rename
// onto the watched path, timing how long until the new version answers.
func runUpgrade(ctx context.Context, o options, tracker *proc.Tracker, work string) error {
	dir, err := filepath.Abs(filepath.Join(o.outDir, "upgrade"))
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "publish"), 0o755); err != nil {
		return err
	}
	n := o.upgrades + 1
	for k := 1; k <= n; k++ {
		bin := filepath.Join(dir, fmt.Sprintf("app-v%d", k))
		fmt.Printf("building %s (%d MB)\n", filepath.Base(bin), o.padMB)
		if err := buildPadded(ctx, bin, fmt.Sprintf("v%d", k), int64(o.padMB)<<20); err != nil {
			return err
		}
	}
	running := filepath.Join(dir, "app")
	if err := copyFile(filepath.Join(dir, "app-v1"), running); err != nil {
		return err
	}
	published := filepath.Join(dir, "publish", "app")
	logf, err := os.Create(filepath.Join(work, "logs", "upgrade.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	v := service.Variant{Name: "oursupgrade", Label: "ours + graceful.Serve + fetcher.File", Bin: running, Restart: service.SignalMaster}
	svc, err := service.Start(v, service.Options{Dir: work, Log: logf, TerminateTimeout: terminateTimeout,
		Tracker: tracker, Env: []string{"BENCH_PUBLISH=" + published}})
	if err != nil {
		return err
	}
	pids := &load.PidLog{OnNew: tracker.AddPid}
	defer func() { svc.Kill(pids.Pids()) }()
	if _, err := svc.WaitReady(10 * time.Second); err != nil {
		return err
	}

	start := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	results := make(chan *load.Result, 1)
	go func() {
		results <- load.Run(loadCtx, load.Config{
			URL: svc.URL(0), Token: svc.Token, Clients: 8,
			KeepAlive: func(i int) bool { return i%2 == 0 },
			Timeout:   requestTimeout, MaxPerClient: 10_000_000, Pids: pids,
		}, start)
	}()
	rss := &rssPeak{pid: svc.Pid}
	go rss.run(loadCtx)
	service.CtxSleep(ctx, 1500*time.Millisecond) // let the fetcher make its first check

	var ups []upgradeResult
	var marks []time.Duration
	for k := 2; k <= n && ctx.Err() == nil; k++ {
		src := filepath.Join(dir, fmt.Sprintf("app-v%d", k))
		tmp := published + ".tmp"
		if err := copyFile(src, tmp); err != nil {
			return err
		}
		rss.reset()
		if err := os.Rename(tmp, published); err != nil {
			return err
		}
		at := time.Since(start)
		marks = append(marks, at)
		u := upgradeResult{version: fmt.Sprintf("v%d", k)}
		if fi, err := os.Stat(src); err == nil {
			u.size = fi.Size()
		}
		_, u.ok = waitFor(ctx, 60*time.Second, func() bool { return servedVersion(pids, u.version) >= 0 })
		if u.ok {
			u.latency = servedVersion(pids, u.version) - at
		}
		service.CtxSleep(ctx, 2*time.Second) // let the old child drain before the next publish
		u.peakRSSKB = rss.get()
		ups = append(ups, u)
		fmt.Printf("  %s: published → serving %s\n", u.version, u.latency.Round(time.Millisecond))
	}
	stopLoad()
	lr := <-results
	term := svc.Terminate(10*time.Second, pids.Pids())
	marks = append(marks, time.Since(start))
	for _, s := range lr.Samples {
		for i := range ups {
			if s.End() >= marks[i] && s.End() < marks[i+1] {
				if s.Class.Failed() {
					ups[i].failed++
				} else if s.Class == load.Retried {
					ups[i].retried++
				}
			}
		}
	}
	var b strings.Builder
	writeMachine(&b, "overseer upgrade latency (fetcher.File, Interval 1s)")
	fmt.Fprintf(&b, "Each version is published by an atomic rename onto the watched path while 8 clients (half keep-alive) send requests.\n\n")
	fmt.Fprintln(&b, "| version | binary MB | publish → new version serving | failed requests | retried | master RSS peak MB |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|")
	for _, u := range ups {
		lat := "**never (60 s)**"
		if u.ok {
			lat = fmt.Sprintf("%d ms", u.latency.Milliseconds())
		}
		fmt.Fprintf(&b, "| %s | %.1f | %s | %d | %d | %.1f |\n", u.version, float64(u.size)/(1<<20), lat, u.failed, u.retried, float64(u.peakRSSKB)/1024)
	}
	termCell := fmt.Sprintf("%.1f ms", float64(term.Took)/1e6)
	if term.Killed {
		termCell = fmt.Sprintf("**SIGKILL needed, %d left**", term.Left)
	}
	fmt.Fprintf(&b, "\nSIGTERM at the end: %s.\n", termCell)
	fmt.Print("\n" + b.String())
	return save(o.outDir, "upgrade", b.String())
}

// servedVersion returns when a process of the given version first answered,
// or -1 when none has yet.
func servedVersion(pids *load.PidLog, version string) time.Duration {
	for _, s := range pids.List() {
		if s.Version == version {
			return s.First
		}
	}
	return -1
}

// buildPadded builds apps/oursupgrade with app.Version set, then appends
// random bytes until the file is size bytes long. Data after the ELF image is
// never mapped, so the padding only costs what an upgrade really pays for a
// big binary: download, hashing, copying and fsync.
func buildPadded(ctx context.Context, out, version string, size int64) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out,
		"-ldflags", "-X github.com/seed-710818af/overseer/bench/internal/app.Version="+version, "./apps/oursupgrade")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w", version, err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if pad := size - fi.Size(); pad > 0 {
		if _, err := io.CopyN(f, rand.Reader, pad); err != nil {
			return fmt.Errorf("pad %s: %w", out, err)
		}
	}
	return f.Close()
}

// copyFile copies src to dst with mode 0755.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// rssPeak samples a process's VmRSS every 10 ms and keeps the maximum.
type rssPeak struct {
	pid  int
	mu   sync.Mutex
	peak int
}

// run samples until ctx is done.
func (r *rssPeak) run(ctx context.Context) {
	for service.CtxSleep(ctx, 10*time.Millisecond) {
		if st, err := proc.ReadStatus(r.pid); err == nil {
			r.mu.Lock()
			r.peak = max(r.peak, st.RSSKB)
			r.mu.Unlock()
		}
	}
}

// reset starts a new peak.
func (r *rssPeak) reset() { r.mu.Lock(); r.peak = 0; r.mu.Unlock() }

// get returns the peak since the last reset.
func (r *rssPeak) get() int { r.mu.Lock(); defer r.mu.Unlock(); return r.peak }
