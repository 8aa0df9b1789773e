package main

import (
	"context"
	"fmt"

	"github.com/seed-710818af/overseer/bench/internal/proc"
)

// runSoak is filled in by soak mode; see soak_run.go.
var _ = proc.Alive

func runSoak(ctx context.Context, o options, tracker *proc.Tracker, work string) error {
	return fmt.Errorf("soak: not implemented yet")
}

func runUpgrade(ctx context.Context, o options, tracker *proc.Tracker, work string) error {
	return fmt.Errorf("upgrade: not implemented yet")
}
