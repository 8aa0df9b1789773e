// Command bench is the benchmark driver. It runs the app variants built by
// run.sh under load, restarts them, and reports what clients experienced.
//
// Modes:
//
//	-mode quick    keep-alive on/off × sleep 0 and 50ms, one round each
//	-mode full     the same plus sleep 250ms, three rounds each
//	-mode soak     many restarts of one variant, watching the master's fds,
//	               threads and memory
//	-mode upgrade  publish → new version serving, through fetcher.File
//
// Every process the driver starts runs in its own process group; all of
// them are killed when the driver ends, also on error or Ctrl-C, and the
// number of survivors is printed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/proc"
	"github.com/seed-710818af/overseer/bench/internal/service"
)

// options are the command-line flags.
type options struct {
	mode      string
	binDir    string
	outDir    string
	variants  string
	unbuilt   string
	clients   int
	rounds    int
	restarts  int
	soakVar   string
	upgrades  int
	padMB     int
	settings  string
	plotKA    bool
	plotSleep time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "quick", "quick, full, soak or upgrade")
	flag.StringVar(&o.binDir, "bin", "out/bin", "directory with the built variants")
	flag.StringVar(&o.outDir, "out", "out", "directory for results, logs and the plot")
	flag.StringVar(&o.variants, "variants", "jpillora,tableflip,oursdropin,oursgraceful,plain", "variants to run (comma-separated)")
	flag.StringVar(&o.unbuilt, "unbuilt", "", "variants that failed to build (reported as such)")
	flag.IntVar(&o.clients, "clients", 32, "concurrent clients")
	flag.StringVar(&o.settings, "settings", "", "quick/full: only these settings, e.g. on:0s,off:50ms,on:0s:post (POSTs)")
	flag.IntVar(&o.rounds, "rounds", 0, "rounds per setting (0: 1 for quick, 3 for full)")
	flag.IntVar(&o.restarts, "restarts", 1000, "soak: number of restarts")
	flag.StringVar(&o.soakVar, "soak-variant", "oursgraceful", "soak: variant to restart")
	flag.IntVar(&o.upgrades, "upgrades", 3, "upgrade: number of upgrades")
	flag.IntVar(&o.padMB, "pad-mb", 20, "upgrade: binary size in MB")
	flag.BoolVar(&o.plotKA, "plot-keepalive", true, "plot: keep-alive setting of the plotted rounds")
	flag.DurationVar(&o.plotSleep, "plot-sleep", 0, "plot: sleep setting of the plotted rounds")
	flag.Parse()
	os.Exit(run(o))
}

// run executes the selected mode and always cleans up every process.
func run(o options) (code int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	work := filepath.Join(o.outDir, "work")
	_ = os.RemoveAll(filepath.Join(work, "logs")) // logs of this run only
	for _, d := range []string{work, filepath.Join(work, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	absOut, _ := filepath.Abs(o.outDir)
	tracker := &proc.Tracker{File: filepath.Join(work, "pgids"), ExeDir: absOut}
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintln(os.Stderr, "bench: panic:", p)
			code = 2
		}
		left := tracker.KillAll()
		fmt.Printf("\nprocesses left after cleanup: %d %v\n", len(left), left)
		if len(left) > 0 && code == 0 {
			code = 1
		}
	}()

	var err error
	switch o.mode {
	case "quick", "full":
		err = runMatrix(ctx, o, tracker, work)
	case "soak":
		err = runSoak(ctx, o, tracker, work)
	case "upgrade":
		err = runUpgrade(ctx, o, tracker, work)
	default:
		err = fmt.Errorf("unknown mode %q", o.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		return 130
	}
	return 0
}

// selected returns the known variants named in list, in canonical order.
func selected(binDir, list string) []service.Variant {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []service.Variant
	for _, v := range service.Known(binDir) {
		if want[v.Name] {
			out = append(out, v)
		}
	}
	return out
}
