// Package report turns round results into the Markdown table and the
// latency plot.
package report

import (
	"sort"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/load"
	"github.com/seed-710818af/overseer/bench/internal/round"
)

// Row aggregates every round of one variant and setting.
type Row struct {
	Label   string
	Setting round.Setting
	// Rounds is the number of rounds merged; Errs are rounds that failed.
	Rounds int
	Errs   []string

	Counts, AtTerm load.Counts
	Latencies      []time.Duration

	Signals, NewProcs, NewPids int
	Handovers                  []time.Duration
	Missed                     int // signals never followed by a response from a new pid
	StartUps                   []time.Duration
	Drains                     []time.Duration
	Undrained                  int // old processes still alive when the round ended
	Hangs, Distinct            int

	TermTimes []time.Duration
	Killed    int
	Died      []string // exit status of services that died on their own
	Left      int

	MasterRSS, ChildRSS, IdleRSS int // KiB, maximum over rounds
	MasterThreads                int // maximum over rounds
	HasMaster, CanRestart        bool
}

// Aggregate groups results by variant label and setting, preserving the
// order in which each group first appears.
func Aggregate(results []*round.Result) []*Row {
	type key struct {
		label string
		s     round.Setting
	}
	idx := map[key]*Row{}
	var rows []*Row
	for _, r := range results {
		k := key{r.Variant.Label, r.Setting}
		row := idx[k]
		if row == nil {
			row = &Row{Label: r.Variant.Label, Setting: r.Setting,
				HasMaster: r.Variant.HasMaster(), CanRestart: r.Variant.Restart != 0}
			idx[k] = row
			rows = append(rows, row)
		}
		row.add(r)
	}
	return rows
}

// add merges one round into the row.
func (row *Row) add(r *round.Result) {
	row.Rounds++
	if r.Err != nil {
		row.Errs = append(row.Errs, r.Err.Error())
		return
	}
	row.Counts.Add(r.Counts)
	row.AtTerm.Add(r.AtTerm)
	row.Latencies = append(row.Latencies, r.Latencies...)
	row.Signals += len(r.Restarts)
	if r.Served > 0 {
		row.NewPids += r.Served - 1
	}
	if r.Started > 0 {
		row.NewProcs += r.Started - 1
	}
	for _, rs := range r.Restarts {
		if rs.NewPid > 0 {
			row.Handovers = append(row.Handovers, rs.Handover)
			if rs.StartUp > 0 {
				row.StartUps = append(row.StartUps, rs.StartUp)
			}
		} else {
			row.Missed++
		}
		if rs.OldPid > 0 && !rs.Repeat {
			row.Distinct++
			row.Drains = append(row.Drains, rs.Drain)
			if !rs.Drained {
				row.Undrained++
			}
		}
	}
	row.Hangs += r.Hangs()
	row.MasterRSS = max(row.MasterRSS, r.MasterRSS)
	row.MasterThreads = max(row.MasterThreads, r.MasterThreads)
	row.ChildRSS = max(row.ChildRSS, r.ChildRSS)
	row.IdleRSS = max(row.IdleRSS, r.IdleRSS)
	row.Left += r.Term.Left
	if r.Died {
		row.Died = append(row.Died, r.DiedHow)
		return // the SIGTERM time means nothing without the master
	}
	row.TermTimes = append(row.TermTimes, r.Term.Took)
	if r.Term.Killed {
		row.Killed++
	}
}

// Percentile returns the p-th percentile (0..100) of ds by nearest rank; ds
// is sorted in place. It returns 0 for an empty slice.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(p/100*float64(len(ds))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(ds) {
		i = len(ds) - 1
	}
	return ds[i]
}
