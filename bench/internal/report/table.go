package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/load"
)

// Header lists the table columns; README.md explains each one.
var Header = []string{
	"library", "method", "keep-alive", "sleep", "rounds", "requests", "failed", "failed by class", "retried",
	"p50 ms", "p99 ms", "max ms", "restarts: signals/started/served", "handover p50/max ms",
	"child start p50 ms", "drain p50/max ms", "hangs", "SIGTERM", "lost at SIGTERM",
	"master RSS MB", "master threads", "child RSS MB", "left",
}

// Markdown writes rows as a Markdown table, plus one line per row that has
// failed rounds.
func Markdown(w io.Writer, rows []*Row) {
	fmt.Fprintln(w, "| "+strings.Join(Header, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(Header)))
	for _, r := range rows {
		fmt.Fprintln(w, "| "+strings.Join(r.cells(), " | ")+" |")
	}
	for _, r := range rows {
		for _, e := range r.Errs {
			fmt.Fprintf(w, "\n- %s (%s): %s", r.Label, r.Setting, e)
		}
	}
	fmt.Fprintln(w)
}

// cells renders one row.
func (r *Row) cells() []string {
	ka := "off"
	if r.Setting.KeepAlive {
		ka = "on"
	}
	head := []string{r.Label, r.Setting.Method(), ka, r.Setting.Sleep.String(), fmt.Sprint(r.Rounds)}
	ok := r.Rounds - len(r.Errs)
	if ok == 0 {
		cells := append(head, "—", "**did not run**")
		for len(cells) < len(Header) {
			cells = append(cells, "—")
		}
		return cells
	}
	if len(r.Errs) > 0 {
		head[4] = fmt.Sprintf("%d (%d failed to run)", r.Rounds, len(r.Errs))
	}
	dash := "—"
	restarts, handover, start, drain, hangs := dash, dash, dash, dash, dash
	if r.CanRestart {
		restarts = fmt.Sprintf("%d/%d/%d", r.Signals, r.NewProcs, r.NewPids)
		handover = fmt.Sprintf("%s/%s", ms(Percentile(r.Handovers, 50)), ms(Percentile(r.Handovers, 100)))
		if r.Missed > 0 {
			handover += fmt.Sprintf(" (%d none)", r.Missed)
		}
		start = ms(Percentile(r.StartUps, 50))
		drain = fmt.Sprintf("%s/%s", ms(Percentile(r.Drains, 50)), ms(Percentile(r.Drains, 100)))
		if r.Undrained > 0 {
			drain += fmt.Sprintf(" (%d still alive)", r.Undrained)
		}
		hangs = fmt.Sprintf("%d of %d", r.Hangs, r.Distinct)
	}
	term := ms(Percentile(r.TermTimes, 100))
	if r.Killed > 0 {
		term = fmt.Sprintf("**SIGKILL needed %d/%d**", r.Killed, ok)
	}
	if len(r.Died) > 0 {
		t := fmt.Sprintf("**service died before SIGTERM in %d/%d (%s)**", len(r.Died), ok, strings.Join(r.Died, ", "))
		if len(r.TermTimes) > 0 {
			t += "; " + term
		}
		term = t
	}
	master, threads := dash, dash
	if r.HasMaster {
		master, threads = mb(r.MasterRSS), fmt.Sprint(r.MasterThreads)
	}
	return append(head,
		fmt.Sprint(r.Counts.Total()),
		bold(r.Counts.Failed()),
		byClass(r.Counts),
		bold(r.Counts[load.Retried]),
		ms(Percentile(r.Latencies, 50)), ms(Percentile(r.Latencies, 99)), ms(Percentile(r.Latencies, 100)),
		restarts, handover, start, drain, hangs, term,
		fmt.Sprintf("%d of %d", r.AtTerm.Failed(), r.AtTerm.Total()),
		master, threads, mb(r.ChildRSS), fmt.Sprint(r.Left),
	)
}

// byClass renders the non-zero failure classes, e.g. "EOF 83, reset 2".
func byClass(c load.Counts) string {
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

// bold renders n, in bold when it is not zero.
func bold(n int) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("**%d**", n)
}

// ms renders a duration in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

// mb renders KiB as MB with one decimal; 0 renders as a dash.
func mb(kib int) string {
	if kib == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", float64(kib)/1024)
}
