package remote

import (
	"fmt"
	"testing"
	"time"
)

func TestPacerBackoff(t *testing.T) {
	p := &Pacer{Interval: time.Minute}
	now := time.Now()
	if d := p.Next(now); d != 0 {
		t.Fatalf("first poll waits %s, want 0", d)
	}
	within := func(d, want time.Duration) bool {
		return d >= time.Duration(float64(want)*(1-Jitter)) && d <= time.Duration(float64(want)*(1+Jitter))
	}
	for i := 0; i < 20; i++ {
		if d := p.Next(now); !within(d, time.Minute) {
			t.Fatalf("after success waits %s, want about 1m", d)
		}
	}
	wants := []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 16 * time.Minute}
	for i, want := range wants {
		n, next := p.Failed()
		if n != i+1 || next != want {
			t.Fatalf("failure %d: Failed = %d, %s; want %d, %s", i+1, n, next, i+1, want)
		}
		if d := p.Next(now); !within(d, want) {
			t.Fatalf("after %d failures waits %s, want about %s", i+1, d, want)
		}
	}
	p.Succeeded()
	if d := p.Next(now); !within(d, time.Minute) {
		t.Fatalf("after recovery waits %s", d)
	}

	// The backoff never exceeds MaxBackoff, nor falls below Interval.
	long := &Pacer{Interval: 10 * time.Minute}
	for i := 0; i < 100; i++ {
		long.Failed()
	}
	if _, next := long.Failed(); next != MaxBackoff {
		t.Fatalf("capped backoff %s, want %s", next, MaxBackoff)
	}
	huge := &Pacer{Interval: 2 * time.Hour}
	if _, next := huge.Failed(); next != 2*time.Hour {
		t.Fatalf("backoff for a 2h interval %s, want 2h", next)
	}
}

func TestPacerUntil(t *testing.T) {
	p := &Pacer{Interval: time.Second}
	now := time.Now()
	p.Next(now)
	p.Until(now.Add(time.Hour))
	if d := p.Next(now); d != time.Hour {
		t.Fatalf("rate-limited wait %s, want 1h", d)
	}
	// Used once: the next wait is back to normal.
	if d := p.Next(now); d > 2*time.Second {
		t.Fatalf("wait after the reset %s", d)
	}
	// A reset in the past does not shorten the normal wait to nothing.
	p.Until(now.Add(-time.Minute))
	if d := p.Next(now); d < 900*time.Millisecond {
		t.Fatalf("wait with a past reset %s", d)
	}
}

func TestPacerWaitSleeps(t *testing.T) {
	var slept []time.Duration
	p := &Pacer{Interval: time.Second, Sleep: func(d time.Duration) { slept = append(slept, d) }}
	p.Wait()
	p.Wait()
	if len(slept) != 1 || slept[0] < 900*time.Millisecond {
		t.Fatalf("slept %v", slept)
	}
}

// TestPacerAgain: a version replaced during its download is polled again
// at once, MaxAgain times in a row at most; then it waits like a failure.
// A success resets the count. Every step is followed by a poll.
func TestPacerAgain(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name  string
		steps string // a: Again, s: Succeeded, f: Failed
		want  []bool // Again's results, in order
		at0   bool   // the poll after the last step starts at once
	}{
		{"one replacement", "a", []bool{true}, true},
		{"replaced MaxAgain times", "aaa", []bool{true, true, true}, true},
		{"one time too many", "aaaa", []bool{true, true, true, false}, false},
		{"the count restarts after giving up", "aaaaa", []bool{true, true, true, false, true}, true},
		{"a success resets the count", "aaasa", []bool{true, true, true, true}, true},
		{"a failure keeps the count", "aaafa", []bool{true, true, true, false}, false},
		{"a failure waits", "f", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pacer{Interval: time.Minute}
			p.Next(now) // the first poll
			var got []bool
			at0 := false
			for _, step := range tc.steps {
				switch step {
				case 'a':
					got = append(got, p.Again())
				case 's':
					p.Succeeded()
				case 'f':
					p.Failed()
				}
				at0 = p.Next(now) == 0
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Again results %v, want %v", got, tc.want)
			}
			if at0 != tc.at0 {
				t.Fatalf("the poll after the last step starts at once: %v, want %v", at0, tc.at0)
			}
		})
	}
}
