// Command fleet simulates a fleet of hosts taking a staged release from one
// store: every host is a goroutine running the real fetcher.Manifest over
// the real fetcher.HTTP, with its own host identity, polling a real HTTP
// server on 127.0.0.1 with jitter. It reports what the store sees while
// idle and during each wave, how long each wave takes to reach its hosts,
// how close the upgraded share is to each percentage, and whether any host
// downloaded a binary it did not apply.
//
//	./bench/run.sh --fleet                    # 10,000 hosts, 10 s poll interval
//	bench/out/bin/fleet -hosts 2000 -interval 5s
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/manifest"
)

func main() { os.Exit(run()) }

// run runs the command and returns its exit status.
func run() int {
	var (
		hosts     = flag.Int("hosts", 10000, "simulated hosts")
		interval  = flag.Duration("interval", 10*time.Second, "each host's poll interval (jittered ±10%)")
		assetSize = flag.Int("asset-size", 64<<10, "size of the release binary, bytes")
		waves     = flag.String("waves", "1,10,50,100", "rollout percentages, in order")
		out       = flag.String("out", "", "also write the report to this file")
		proxyTo   = flag.String("proxy-to", "", "run as the counting proxy to this URL (used by -store versitygw)")
		stores    = flag.String("store", "http", "stores to simulate, comma-separated: http, versitygw")
		gwBin     = flag.String("versitygw", "", "the versitygw binary (scripts/install-versitygw.sh builds it into .cache/bin)")
		gwEvery   = flag.Duration("versitygw-interval", 30*time.Second, "poll interval of the versitygw store's hosts: every simulated host signs its S3 requests with the AWS SDK in this one process, and at 10 s that work alone fills a 2-core machine")
		cpuProf   = flag.String("cpuprofile", "", "write the simulation's CPU profile (the hosts' side) to this file")
	)
	flag.Parse()
	if *cpuProf != "" {
		stop, err := startCPUProfile(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			return 2
		}
		defer stop()
	}
	if *proxyTo != "" {
		if err := runProxy(*proxyTo); err != nil {
			fmt.Fprintln(os.Stderr, "fleet proxy:", err)
			return 1
		}
		return 0
	}
	var pcts []float64
	for _, w := range strings.Split(*waves, ",") {
		p, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet: -waves:", err)
			return 2
		}
		pcts = append(pcts, p)
	}
	var text strings.Builder
	violations := 0
	for _, kind := range strings.Split(*stores, ",") {
		st, client, err := openStore(strings.TrimSpace(kind), *gwBin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			return 1
		}
		begun := time.Now()
		every := *interval
		if strings.TrimSpace(kind) == "versitygw" {
			every = *gwEvery
		}
		rep, err := simulate(st, client, *hosts, every, *assetSize, pcts)
		st.close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			return 1
		}
		fmt.Fprintf(&text, "%sRun time: %s.\n\n", rep.text, time.Since(begun).Round(time.Second))
		fmt.Print(rep.text)
		violations += rep.violations
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(text.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			return 1
		}
	}
	if violations > 0 {
		return 1
	}
	return 0
}

// openStore starts a store of kind, and the HTTP client its hosts share.
func openStore(kind, gwBin string) (store, *http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 2048, 2048
	client := &http.Client{Transport: t}
	switch kind {
	case "http":
		st, err := newHTTPStore(client)
		return st, client, err
	case "versitygw":
		if gwBin == "" {
			return nil, nil, fmt.Errorf("-store versitygw needs -versitygw: run scripts/install-versitygw.sh, which builds it into .cache/bin")
		}
		st, err := newGWStore(gwBin, client)
		return st, client, err
	}
	return nil, nil, fmt.Errorf("unknown store %q (want http or versitygw)", kind)
}

// report is the simulation's outcome.
type report struct {
	text       string
	violations int
}

// release is one published binary.
type release struct {
	version string
	body    []byte
	sha     string
}

func newRelease(version string, size int) release {
	b := make([]byte, size)
	rand.Read(b)
	sum := sha256.Sum256(b)
	return release{version: version, body: b, sha: hex.EncodeToString(sum[:])}
}

// simulation holds the fleet and its store.
type simulation struct {
	st       store
	priv     minisign.PrivateKey
	signedAt time.Time
}

// publish signs and publishes a manifest of r at percent.
func (s *simulation) publish(r release, percent float64) error {
	path := r.version + "/app"
	if err := s.st.put(path+".minisig", manifest.Sign(s.priv, r.body, "app", time.Now())); err != nil {
		return err
	}
	if err := s.st.put(path, r.body); err != nil {
		return err
	}
	m := &manifest.Manifest{
		Format: manifest.Format, Version: r.version, Expires: time.Now().Add(24 * time.Hour),
		Rollout: &manifest.Rollout{Percent: percent},
		Assets:  map[string]manifest.Asset{"linux/amd64": {Name: r.version + "/app", Size: int64(len(r.body)), SHA256: r.sha}},
	}
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	s.signedAt = s.signedAt.Add(time.Minute)
	if err := s.st.put("manifest.json.minisig", manifest.Sign(s.priv, data, "manifest.json", s.signedAt)); err != nil {
		return err
	}
	return s.st.put("manifest.json", data)
}

// simulate runs the fleet against st.
func simulate(st store, client *http.Client, n int, interval time.Duration, assetSize int, pcts []float64) (*report, error) {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	pubText, _ := pub.MarshalText()
	sim := &simulation{st: st, priv: priv, signedAt: time.Now().Add(-time.Hour)}
	v1, v2 := newRelease("v1", assetSize), newRelease("v2", assetSize)
	if err := sim.publish(v1, 100); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Fleet simulation: %s\n\n%d hosts (goroutines running the real fetcher.Manifest, each with its own host identity), polling every %s ±10%%, first polls spread over one interval; a %d-byte binary per release.\n\n", st.name(), n, interval, assetSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fleet := make([]*host, n)
	var wg sync.WaitGroup
	for i := range fleet {
		id := fmt.Sprintf("sim-%08x", i*2654435761%4294967296)
		h, err := newHost(id, st.source(interval), string(pubText), v1.sha, client)
		if err != nil {
			return nil, err
		}
		fleet[i] = h
		wg.Add(1)
		go func() { defer wg.Done(); h.run(ctx, interval, pub) }()
	}
	defer wg.Wait()
	defer cancel()

	// Everyone reads the v1 manifest (up to date), then the store idles.
	time.Sleep(interval * 3 / 2)
	idle := measure(st, interval)
	fmt.Fprintf(&b, "## Idle (every host up to date, manifest unchanged)\n\n%s\n\n", idle)
	fmt.Fprintf(&b, "## Waves (v2)\n\n| rollout | hosts expected | upgraded | share | off by | wave time (publish → last expected host) | p50 | store req/s | store MB/s | bodiless (304 or HEAD) | downloads outside the rollout | repeated downloads |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	rep := &report{}
	for _, pct := range pcts {
		expected := map[int]bool{}
		for i, h := range fleet {
			if manifest.Point(h.id, v2.version) < pct {
				expected[i] = true
			}
		}
		begin := st.snap()
		if err := sim.publish(v2, pct); err != nil {
			return nil, err
		}
		published := time.Now()
		// Wait for the expected hosts, and at least one interval and a
		// bit so that every host has seen the manifest.
		deadline := published.Add(4 * interval)
		for time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			if time.Since(published) > interval*6/5 && countRunning(fleet, v2.sha) >= len(expected) {
				break
			}
		}
		end := st.snap()
		upgraded, outside, repeated := 0, 0, 0
		var times []time.Duration
		var last time.Duration
		for i, h := range fleet {
			running, downloads, _, at := h.state(v2.sha)
			if downloads > 1 {
				repeated++
			}
			if downloads > 0 && !expected[i] {
				outside++
			}
			if running == v2.sha {
				upgraded++
				if d := at.Sub(published); d > 0 {
					times = append(times, d)
					last = max(last, d)
				}
			}
		}
		rep.violations += outside + repeated
		if upgraded != len(expected) {
			rep.violations++
		}
		share := 100 * float64(upgraded) / float64(n)
		fmt.Fprintf(&b, "| %v%% | %d | %d | %.2f%% | %+.2f | %s | %s | %.0f | %.2f | %.1f%% | %d | %d |\n",
			pct, len(expected), upgraded, share, share-pct, last.Round(10*time.Millisecond), median(times).Round(10*time.Millisecond),
			rate(begin, end, false), rate(begin, end, true)/1e6, 100*float64(end.Bodiless-begin.Bodiless)/float64(max(1, end.Requests-begin.Requests)), outside, repeated)
	}
	idle2 := measure(st, interval)
	fmt.Fprintf(&b, "\n## Idle after the last wave\n\n%s\n\n", idle2)
	verdict := "no host downloaded a binary it did not apply, none downloaded twice, and each wave upgraded exactly the hosts its percentage selects"
	if rep.violations > 0 {
		verdict = fmt.Sprintf("%d VIOLATIONS (see the table)", rep.violations)
	}
	fmt.Fprintf(&b, "Asset downloads at the store: %d for %d upgraded hosts. Verdict: %s.\n", st.snap().AssetGets, countRunning(fleet, v2.sha), verdict)
	rep.text = b.String()
	return rep, nil
}

// measure watches the store for d and describes its load.
func measure(st store, d time.Duration) string {
	a := st.snap()
	time.Sleep(d)
	z := st.snap()
	return fmt.Sprintf("%.0f requests/s, %.0f body bytes/s, %.1f%% bodiless (304 Not Modified or HEAD) (over %s)",
		rate(a, z, false), rate(a, z, true), 100*float64(z.Bodiless-a.Bodiless)/float64(max(1, z.Requests-a.Requests)), d)
}

// rate is requests (or body bytes) per second between two snapshots.
func rate(a, z snapshot, bytes bool) float64 {
	secs := z.At.Sub(a.At).Seconds()
	if bytes {
		return float64(z.Bytes-a.Bytes) / secs
	}
	return float64(z.Requests-a.Requests) / secs
}

// countRunning counts hosts running sha.
func countRunning(fleet []*host, sha string) int {
	n := 0
	for _, h := range fleet {
		if running, _, _, _ := h.state(sha); running == sha {
			n++
		}
	}
	return n
}

// median of ds, zero when empty.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
