//go:build race

package overseer_test

// raceEnabled builds the test programs with the race detector too.
const raceEnabled = true
