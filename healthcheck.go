package overseer

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// HealthCheck is a check the master runs against the service while an
// upgraded release is on probation (see Config.ProbationPeriod). A release
// whose check fails Failures times in a row is rolled back.
//
// Ready and healthy are different promises. A child is ready (State.Ready,
// or its first Accept) when it may take traffic: the previous child is told
// to drain only then. It is healthy while it keeps working: it answers its
// health check. A release can be ready and not healthy (it accepts
// connections and answers 500); probation catches that, and a crash, for
// ProbationPeriod after the handover.
//
// Set Path, Func or both; with both, both must pass.
type HealthCheck struct {
	// Path, if set, is requested with GET over plain HTTP/1.1 from the
	// service's first stream listener (Config.Addresses), through the
	// socket the master holds, so the request reaches whichever child
	// accepts it, as a client's would. The answer must be a 2xx status.
	// The request carries the header "X-Overseer-Health-Check: 1". Path
	// is an absolute path with an optional query ("/healthz?deep=1");
	// Run refuses anything else.
	Path string
	// Func, if set, is called in the master process; a nil error is
	// healthy. It must return when ctx is done (after Timeout).
	Func func(ctx context.Context) error
	// Interval is the time between the starts of two checks. Defaults to
	// 2 seconds.
	Interval time.Duration
	// Timeout bounds one check. Defaults to 2 seconds.
	Timeout time.Duration
	// Failures is how many failed checks in a row fail the release.
	// Defaults to 3.
	Failures int
}

// withDefaults returns h with zero fields set to their defaults.
func (h HealthCheck) withDefaults() HealthCheck {
	if h.Interval <= 0 {
		h.Interval = 2 * time.Second
	}
	if h.Timeout <= 0 {
		h.Timeout = 2 * time.Second
	}
	if h.Failures <= 0 {
		h.Failures = 3
	}
	return h
}

// validHealthPath checks that path can be sent as a request target: an
// absolute path, with an optional query, and nothing that would break the
// request line.
func validHealthPath(path string) error {
	if path == "" {
		return nil
	}
	if path[0] != '/' {
		return fmt.Errorf("overseer: HealthCheck.Path %q must start with /", path)
	}
	for _, r := range path {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("overseer: HealthCheck.Path %q contains a space or control character; escape it (%%20)", path)
		}
	}
	if _, err := url.ParseRequestURI(path); err != nil {
		return fmt.Errorf("overseer: HealthCheck.Path: %w", err)
	}
	return nil
}
