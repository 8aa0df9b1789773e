package overseer_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestSignedUpgradeOverHTTP: a signed binary published on a real HTTP
// server is verified and installed; a tampered one published after it is
// rejected, and polling an unchanged release costs no body bytes.
func TestSignedUpgradeOverHTTP(t *testing.T) {
	key := newMinisignKey(t)
	dir := t.TempDir()
	var requests, bodyBytes atomic.Int64
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		files.ServeHTTP(countingWriter{w, &bodyBytes}, r)
	}))
	defer srv.Close()
	publish := func(variant string, sig []byte) {
		if err := os.WriteFile(filepath.Join(dir, "app.minisig"), sig, 0o644); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(binDir, variant), filepath.Join(dir, "app.tmp"))
		if err := os.Rename(filepath.Join(dir, "app.tmp"), filepath.Join(dir, "app")); err != nil {
			t.Fatal(err)
		}
	}
	publish("v2", key.sign(t, "v2"))
	s := startService(t, options{env: []string{"APP_PUBLIC_KEY=" + key.public, "APP_URL=" + srv.URL + "/app"}})
	s.waitServing("v2", 20*time.Second)

	// Unchanged: each poll is two conditional requests (the binary and
	// its signature, so that a corrected signature is noticed) and no body.
	time.Sleep(1500 * time.Millisecond)
	r0, b0 := requests.Load(), bodyBytes.Load()
	time.Sleep(3 * time.Second)
	polls, bytes := requests.Load()-r0, bodyBytes.Load()-b0
	t.Logf("unchanged source: %d requests, %d body bytes in 3s", polls, bytes)
	if polls == 0 || polls > 10 || bytes != 0 {
		t.Errorf("polling an unchanged source: %d requests and %d body bytes in 3s, want 1 to 10 requests and 0 bytes", polls, bytes)
	}

	// Tampered: v3's bytes with v2's signature.
	v2 := fileHash(t, s.bin)
	publish("v3", key.sign(t, "v2"))
	s.waitLog("does not match the binary", 20*time.Second)
	if fileHash(t, s.bin) != v2 {
		t.Error("binary on disk changed after a tampered release")
	}
	if r := s.mustGet("/"); r.version != "v2" {
		t.Errorf("serving %s after a tampered release", r.version)
	}
}

// countingWriter counts the body bytes a handler writes.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

// TestBrokenHTTPReleasesAreRejected: a server that fails or cuts the
// download leaves the service serving and the binary on disk unchanged,
// and the log says why.
func TestBrokenHTTPReleasesAreRejected(t *testing.T) {
	v2, err := os.ReadFile(filepath.Join(binDir, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		log     string
	}{
		{"server-error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, "500"},
		{"truncated-body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "99999999")
			w.Header().Set("ETag", `"v2"`)
			w.Write(v2[:len(v2)/3]) // then the handler returns: the connection is cut short
		}, "download failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			s := startService(t, options{env: []string{"APP_URL=" + srv.URL + "/app"}})
			v1 := fileHash(t, s.bin)
			s.waitLog(c.log, 20*time.Second)
			if fileHash(t, s.bin) != v1 {
				t.Error("binary on disk changed")
			}
			if r := s.mustGet("/"); r.version != "v1" {
				t.Errorf("serving %s", r.version)
			}
			assertNoStagingFiles(t, s.dir)
		})
	}
}
