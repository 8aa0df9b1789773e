package fetcher_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/manifest"
)

// ExampleManifest polls a signed release manifest on a web server. The
// release is at 0%: the host refuses it without downloading the binary.
// Widened to 100% (signed again, so newer), the host takes it. In a
// service, pass the fetcher to overseer as Config.Fetcher.
func ExampleManifest() {
	pub, priv, _ := minisign.GenerateKey(rand.Reader)
	publicKey, _ := pub.MarshalText()

	// The store: what overseer-release writes, served from memory.
	var mu sync.Mutex
	files := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, ok := files[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	bin := []byte("the v2 binary")
	sum := sha256.Sum256(bin)
	mu.Lock()
	files["/app_linux_amd64/app"] = bin
	mu.Unlock()
	signed := time.Now().Add(-time.Hour)
	publish := func(percent float64) {
		data, _ := (&manifest.Manifest{
			Format:  manifest.Format,
			Version: "v2",
			Expires: time.Now().Add(14 * 24 * time.Hour),
			Rollout: &manifest.Rollout{Percent: percent},
			Assets: map[string]manifest.Asset{
				"linux/amd64": {Name: "app_linux_amd64/app", Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:])},
			},
		}).Marshal()
		signed = signed.Add(time.Minute)
		mu.Lock()
		defer mu.Unlock()
		files["/manifest.json.minisig"] = manifest.Sign(priv, data, "manifest.json", signed)
		files["/manifest.json"] = data
	}

	f := &fetcher.Manifest{
		Source:    &fetcher.HTTP{URL: srv.URL + "/manifest.json", Interval: 10 * time.Millisecond},
		PublicKey: string(publicKey),
		HostID:    "web-7",           // default: the machine-id
		Platform:  "linux/amd64",     // default: this program's
		StateFile: os.DevNull,        // default: the master's, beside the binary
		Running:   "no binary of v2", // default: the running binary's SHA-256
		OnDecision: func(d fetcher.Decision) {
			switch {
			case errors.Is(d.Err, manifest.ErrOutsideRollout):
				fmt.Println(d.Version, "refused: outside the rollout")
			case d.Err == nil && !d.Downloaded:
				fmt.Println(d.Version, "taken")
			}
		},
		Logger: nil, // slog.Default()
	}
	if err := f.Init(); err != nil {
		fmt.Println(err)
		return
	}
	publish(0)
	r, _ := f.Fetch()
	fmt.Println("downloaded:", r != nil)

	publish(100)
	r, _ = f.Fetch()
	got, _ := io.ReadAll(r)
	fmt.Printf("downloaded: %q\n", got)
	// Output:
	// v2 refused: outside the rollout
	// downloaded: false
	// v2 taken
	// downloaded: "the v2 binary"
}
