package manifest

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"
)

// pointScale is the resolution of rollout points: 0.01 percentage points.
const pointScale = 10000

// Point returns the host's place in the rollout of release version: a
// number in [0, 100) in steps of 0.01, from the SHA-256 of the host
// identity and the version. A host is in a rollout of p percent when
// Point < p, so raising p only adds hosts, and the same host and release
// always give the same point. Each release orders the hosts afresh, so the
// first hosts of one release are not always the first of the next.
func Point(hostID, version string) float64 {
	return float64(bucket(hostID, version)) / 100
}

// bucket is Point in hundredths: an integer in [0, 10000).
func bucket(hostID, version string) uint64 {
	h := sha256.New()
	h.Write([]byte("overseer-rollout\x00"))
	h.Write([]byte(hostID))
	h.Write([]byte{0})
	h.Write([]byte(version))
	sum := h.Sum(nil)
	// The top 64 bits modulo 10000: the bias is below 1e-15.
	return binary.BigEndian.Uint64(sum[:8]) % pointScale
}

// Includes reports whether the host with identity hostID and name
// hostName takes release version under r: it is named in Hosts (by name
// or identity), or its point is below Percent. A nil Rollout includes
// every host.
func (r *Rollout) Includes(hostID, hostName, version string) bool {
	if r == nil {
		return true
	}
	if slices.Contains(r.Hosts, hostName) || slices.Contains(r.Hosts, hostID) {
		return true
	}
	limit := uint64(math.Round(r.Percent * 100))
	return bucket(hostID, version) < limit
}
