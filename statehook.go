package overseer

import "github.com/seed-710818af/overseer/internal/statehook"

// Package overseertest builds States outside a child process; this is how
// it makes their Ready observable (see internal/statehook).
func init() {
	statehook.SetReady = func(state any, ready func()) { state.(*State).ready = ready }
}
