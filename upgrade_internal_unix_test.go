//go:build unix

package overseer

import (
	"testing"
	"time"
)

func TestFetchPause(t *testing.T) {
	cases := []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{time.Second, 0, time.Second},
		{time.Second, 1, 2 * time.Second},
		{time.Second, 3, 8 * time.Second},
		{time.Second, 6, time.Minute},
		{time.Second, 1000, time.Minute},
		{100 * time.Millisecond, 4, 1600 * time.Millisecond},
		{5 * time.Minute, 0, 5 * time.Minute},
		{5 * time.Minute, 3, 5 * time.Minute}, // never below the configured interval
	}
	for _, c := range cases {
		if got := fetchPause(c.interval, c.failures); got != c.want {
			t.Errorf("fetchPause(%s, %d) = %s, want %s", c.interval, c.failures, got, c.want)
		}
	}
}
