package manifest

import (
	"fmt"
	"time"
)

// Host is what a host knows about itself when it decides on a manifest.
type Host struct {
	// ID is the identity hashed for the rollout (see HostID).
	ID string
	// Name is the host name, matched against Rollout.Hosts (as is ID).
	Name string
	// Platform is "GOOS/GOARCH".
	Platform string
	// Channel, if set, must equal the manifest's channel.
	Channel string
	// Running is the SHA-256 (lowercase hex) of the binary that runs.
	Running string
	// NewestSigned is the signing time of the newest release this host
	// accepted; a manifest must be signed after it.
	NewestSigned time.Time
	// Quarantined reports whether the binary with this SHA-256 was refused
	// or rolled back on this host; nil means none was.
	Quarantined func(sha256 string) bool
}

// Decide returns the asset host must download and apply from s, or an
// error wrapping the reason it must not: ErrExpired, ErrChannel,
// ErrNotNewer, ErrPlatform, ErrUpToDate, ErrQuarantined or
// ErrOutsideRollout, checked in that order, so that no host downloads a
// binary it will not apply. What is downloaded must then match the
// asset's Size and SHA256 (ErrMismatch).
func Decide(s *Signed, host Host, now time.Time) (Asset, error) {
	m := s.Manifest
	if !now.Before(m.Expires) {
		return Asset{}, fmt.Errorf("%w: release %s expired at %s (signed %s); the publisher must re-sign it", ErrExpired, m.Version, m.Expires.UTC().Format(time.RFC3339), s.SignedAt.Format(time.RFC3339))
	}
	if host.Channel != "" && m.Channel != host.Channel {
		return Asset{}, fmt.Errorf("%w: release %s is for channel %q, this host follows %q", ErrChannel, m.Version, m.Channel, host.Channel)
	}
	if !s.SignedAt.After(host.NewestSigned) {
		return Asset{}, fmt.Errorf("%w: release %s signed %s, the newest accepted was signed %s", ErrNotNewer, m.Version, s.SignedAt.Format(time.RFC3339), host.NewestSigned.UTC().Format(time.RFC3339))
	}
	a, ok := m.Assets[host.Platform]
	if !ok {
		return Asset{}, fmt.Errorf("%w: release %s has no asset for %s", ErrPlatform, m.Version, host.Platform)
	}
	if a.SHA256 == host.Running {
		return Asset{}, fmt.Errorf("%w: release %s", ErrUpToDate, m.Version)
	}
	if host.Quarantined != nil && host.Quarantined(a.SHA256) {
		return Asset{}, fmt.Errorf("%w: release %s (%s) was refused or rolled back here before; publish a new build", ErrQuarantined, m.Version, a.SHA256[:12])
	}
	if !m.Rollout.Includes(host.ID, host.Name, m.Version) {
		return Asset{}, fmt.Errorf("%w: release %s is at %v%%, this host is at point %.2f", ErrOutsideRollout, m.Version, m.Rollout.Percent, Point(host.ID, m.Version))
	}
	return a, nil
}
