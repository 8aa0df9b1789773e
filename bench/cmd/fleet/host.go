package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/fetcher"
)

// host is one simulated fleet member: the real fetcher.Manifest over the
// real fetcher.HTTP, and a loop that does what the master does with what
// it returns (check the signature and digest, then run it).
type host struct {
	id string
	m  *fetcher.Manifest

	mu         sync.Mutex
	running    string         // SHA-256 of the binary it runs
	downloads  map[string]int // by SHA-256
	upgradedAt time.Time
	refusals   int
}

// newHost builds a host polling source.
func newHost(id string, source fetcher.Interface, publicKey, running string, client *http.Client) (*host, error) {
	h := &host{id: id, running: running, downloads: map[string]int{}}
	h.m = &fetcher.Manifest{
		Source:    source,
		PublicKey: publicKey,
		HostID:    id,
		HostName:  id,
		Platform:  "linux/amd64",
		Running:   running,
		StateFile: os.DevNull,
		Client:    client,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return h, h.m.Init()
}

// run polls until ctx ends, starting at a random point of the first
// interval so that the fleet's polls are spread out.
func (h *host) run(ctx context.Context, interval time.Duration, key minisign.PublicKey) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(rand.N(interval)):
	}
	for ctx.Err() == nil {
		r, err := h.m.Fetch()
		if err != nil || r == nil {
			continue
		}
		h.apply(r, key)
	}
}

// apply reads a fetched binary as the master does and, if it verifies,
// makes it the running one.
func (h *host) apply(r io.Reader, key minisign.PublicKey) {
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	want, _ := r.(fetcher.Checksummed).SHA256()
	sig, err := r.(fetcher.Signed).Signature()
	if err != nil || sig == nil {
		h.refused()
		return
	}
	sum := sha256.New()
	digest := minisign.NewReader(io.TeeReader(r, sum))
	if _, err := io.Copy(io.Discard, digest); err != nil {
		h.refused()
		return
	}
	got := hex.EncodeToString(sum.Sum(nil))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.downloads[got]++
	if got != want || !digest.Verify(key, sig) {
		h.refusals++
		return
	}
	h.running = got
	h.upgradedAt = time.Now()
	h.m.Running = got // the re-executed master hashes its new binary
}

func (h *host) refused() {
	h.mu.Lock()
	h.refusals++
	h.mu.Unlock()
}

// state returns what the host runs and how often it downloaded sha.
func (h *host) state(sha string) (running string, downloads, refusals int, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running, h.downloads[sha], h.refusals, h.upgradedAt
}
