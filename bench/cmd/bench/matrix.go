package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/load"
	"github.com/seed-710818af/overseer/bench/internal/proc"
	"github.com/seed-710818af/overseer/bench/internal/report"
	"github.com/seed-710818af/overseer/bench/internal/round"
	"github.com/seed-710818af/overseer/bench/internal/service"
)

// Timing of every matrix round; see README.md.
const (
	restartsPerRound = 10
	restartSpacing   = time.Second
	warmup           = 250 * time.Millisecond
	tail             = 300 * time.Millisecond
	floorLoad        = 1500 * time.Millisecond
	hangAfter        = 2 * time.Second
	terminateTimeout = 5 * time.Second
	requestTimeout   = 5 * time.Second
)

// runMatrix runs every selected variant under every setting, interleaving
// the variants (the order rotates from one setting to the next so that drift
// in the machine's state does not favour one), then prints and saves the
// table and the plot.
func runMatrix(ctx context.Context, o options, tracker *proc.Tracker, work string) error {
	settings := []round.Setting{
		{KeepAlive: false, Sleep: 0}, {KeepAlive: false, Sleep: 50 * time.Millisecond},
		{KeepAlive: true, Sleep: 0}, {KeepAlive: true, Sleep: 50 * time.Millisecond},
		{KeepAlive: false, Sleep: 0, Post: true}, {KeepAlive: true, Sleep: 0, Post: true},
	}
	rounds, termDeadline := 1, 3*time.Second
	if o.mode == "full" {
		settings = append(settings, round.Setting{KeepAlive: false, Sleep: 250 * time.Millisecond},
			round.Setting{KeepAlive: true, Sleep: 250 * time.Millisecond})
		rounds, termDeadline = 3, 10*time.Second
	}
	if o.rounds > 0 {
		rounds = o.rounds
	}
	if o.settings != "" {
		var err error
		if settings, err = parseSettings(o.settings); err != nil {
			return err
		}
	}
	variants := selected(o.binDir, o.variants)
	if len(variants) == 0 {
		return fmt.Errorf("no variant to run (built: %q)", o.variants)
	}
	var results []*round.Result
	n := 0
	for r := 0; r < rounds; r++ {
		for si, s := range settings {
			for k := range variants {
				if ctx.Err() != nil {
					return nil
				}
				v := variants[(k+r*len(settings)+si)%len(variants)]
				n++
				tag := fmt.Sprintf("%03d-%s-ka%v-%s", n, v.Name, s.KeepAlive, s.Sleep)
				fmt.Printf("round %d/%d: %-24s %s\n", n, rounds*len(settings)*len(variants), v.Label, s)
				res := round.Run(ctx, round.Config{
					Variant: v, Setting: s, Clients: o.clients,
					Restarts: restartsPerRound, Spacing: restartSpacing, Warmup: warmup, FloorLoad: floorLoad,
					Tail: tail, HangAfter: hangAfter, TerminateTimeout: terminateTimeout,
					TermDeadline: termDeadline, RequestTimeout: requestTimeout,
					Dir: work, Tag: tag, Tracker: tracker,
				})
				printRound(res)
				results = append(results, res)
			}
		}
	}
	results = append(results, unbuilt(o, settings)...)
	return writeMatrix(o, results)
}

// unbuilt returns one failed result per setting for variants that did not
// build, so the table shows them instead of silently leaving them out.
func unbuilt(o options, settings []round.Setting) []*round.Result {
	var out []*round.Result
	for _, v := range selected(o.binDir, o.unbuilt) {
		for _, s := range settings {
			out = append(out, &round.Result{Variant: v, Setting: s, Err: fmt.Errorf("build failed (see out/build-%s.log)", v.Name)})
		}
	}
	return out
}

// printRound prints a one-line summary of a round as it finishes.
func printRound(r *round.Result) {
	if r.Err != nil {
		fmt.Printf("    error: %v\n", r.Err)
		return
	}
	fmt.Printf("    %d requests, %d failed, %d retried", r.Counts.Total(), r.Counts.Failed(), r.Counts[load.Retried])
	if len(r.Restarts) > 0 {
		fmt.Printf(", %d restarts → %d started, %d served, %d hangs", len(r.Restarts), r.Started-1, r.Served-1, r.Hangs())
	}
	if r.Died {
		fmt.Printf(", SERVICE DIED before SIGTERM (%s)\n", r.DiedHow)
	} else {
		fmt.Printf(", SIGTERM %s killed=%v left=%d\n", r.Term.Took.Round(time.Millisecond), r.Term.Killed, r.Term.Left)
	}
	for c, msgs := range r.Errors {
		fmt.Printf("      %s e.g. %s\n", c, strings.Join(msgs, " | "))
	}
	for c, msgs := range r.TermErrors {
		fmt.Printf("      at SIGTERM: %s e.g. %s\n", c, msgs[0])
	}
}

// writeMatrix prints the table, saves it, and draws the plot.
func writeMatrix(o options, results []*round.Result) error {
	ordered := orderForTable(o, results)
	var b strings.Builder
	writeMachine(&b, "overseer benchmark ("+o.mode+")")
	fmt.Fprintf(&b, "%d clients, %d restarts %s apart per round (first after %s), drain limit %s, hang = old process alive %s after the signal.\n\n",
		o.clients, restartsPerRound, restartSpacing, warmup, terminateTimeout, hangAfter)
	report.Markdown(&b, report.Aggregate(ordered))
	for _, r := range ordered {
		if r.Variant.Name == "plain" && r.Err == nil && r.IdleRSS > 0 {
			fmt.Fprintf(&b, "\nIdle RSS of the plain net/http binary (floor): %.1f MB\n", float64(r.IdleRSS)/1024)
			break
		}
	}
	fmt.Print("\n" + b.String())
	if err := save(o.outDir, o.mode, b.String()); err != nil {
		return err
	}
	var plotted []*round.Result
	seen := map[string]bool{}
	for _, r := range ordered {
		if r.Err == nil && !seen[r.Variant.Name] && r.Setting.KeepAlive == o.plotKA && r.Setting.Sleep == o.plotSleep && !r.Setting.Post {
			seen[r.Variant.Name] = true
			plotted = append(plotted, r)
		}
	}
	if len(plotted) == 0 {
		fmt.Println("no round ran with the plot setting; no plot written")
		return nil
	}
	png := filepath.Join(o.outDir, "latency.png")
	if err := report.Plot(png, plotted); err != nil {
		fmt.Fprintln(os.Stderr, "bench: plot:", err)
		return nil
	}
	fmt.Println("plot written to", png)
	return nil
}

// orderForTable sorts results by setting, then by the canonical variant
// order, so rows for the same setting sit together.
func orderForTable(o options, results []*round.Result) []*round.Result {
	rank := map[string]int{}
	for i, v := range service.Known(o.binDir) {
		rank[v.Name] = i
	}
	key := func(r *round.Result) string {
		ka := 1
		if r.Setting.KeepAlive {
			ka = 2
		}
		post := 0
		if r.Setting.Post {
			post = 1
		}
		return fmt.Sprintf("%d-%012d-%d-%02d", ka, r.Setting.Sleep, post, rank[r.Variant.Name])
	}
	out := append([]*round.Result(nil), results...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && key(out[j]) < key(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// parseSettings parses "on:0s,off:50ms,on:0s:post" into settings.
func parseSettings(list string) ([]round.Setting, error) {
	var out []round.Setting
	for _, item := range strings.Split(list, ",") {
		ka, rest, ok := strings.Cut(strings.TrimSpace(item), ":")
		sleep, method, hasMethod := strings.Cut(rest, ":")
		d, err := time.ParseDuration(sleep)
		if !ok || err != nil || (ka != "on" && ka != "off") || (hasMethod && method != "post" && method != "get") {
			return nil, fmt.Errorf("bad setting %q (want on|off:DURATION[:post|get])", item)
		}
		out = append(out, round.Setting{KeepAlive: ka == "on", Sleep: d, Post: method == "post"})
	}
	return out, nil
}
