//go:build !race

package overseer_test

const raceEnabled = false
