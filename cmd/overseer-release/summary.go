package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seed-710818af/overseer/manifest"
)

// summary is the one line the command prints once it wrote a manifest:
// what the fleet will now see.
func summary(verb, file string, m *manifest.Manifest, signed time.Time) string {
	return fmt.Sprintf("%s %s: version %s, rollout %s, expires %s, signed %s",
		verb, file, m.Version, describeRollout(m.Rollout),
		m.Expires.UTC().Format(time.RFC3339), signed.UTC().Format(time.RFC3339))
}

// describeRollout renders a rollout rule for people: "every host",
// "50%", "10% + hosts canary-1,canary-2".
func describeRollout(r *manifest.Rollout) string {
	if r == nil {
		return "every host"
	}
	s := strconv.FormatFloat(r.Percent, 'f', -1, 64) + "%"
	if len(r.Hosts) > 0 {
		s += " + hosts " + strings.Join(r.Hosts, ",")
	}
	return s
}
