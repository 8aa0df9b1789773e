package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
)

// store is where the release is published and what every host polls.
type store interface {
	// name describes the store in the report.
	name() string
	// put publishes body at key ("v2/app", "manifest.json").
	put(key string, body []byte) error
	// source returns a fetcher polling the manifest.
	source(interval time.Duration) fetcher.Interface
	// snap returns the counters of what hosts asked the store.
	snap() snapshot
	close()
}

// counters count what the hosts' requests cost the store.
type counters struct {
	requests, bodyBytes atomic.Int64
	bodiless            atomic.Int64 // 304 Not Modified, or HEAD: a poll that found nothing new
	assetGets           atomic.Int64
}

// snapshot is the counters at one moment.
type snapshot struct {
	At                                   time.Time
	Requests, Bytes, Bodiless, AssetGets int64
}

func (c *counters) snap() snapshot {
	return snapshot{At: time.Now(), Requests: c.requests.Load(), Bytes: c.bodyBytes.Load(), Bodiless: c.bodiless.Load(), AssetGets: c.assetGets.Load()}
}

// count records one answered request.
func (c *counters) count(r *http.Request, status int) {
	c.requests.Add(1)
	if status == http.StatusNotModified || r.Method == http.MethodHead {
		c.bodiless.Add(1)
	}
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/app") && status == http.StatusOK {
		c.assetGets.Add(1)
	}
}

// httpStore is a real HTTP server on 127.0.0.1 serving files from memory
// with strong ETags, so an unchanged file costs a 304 and no body, as a
// web server or CDN answers. Hosts poll it with fetcher.HTTP.
type httpStore struct {
	srv    *http.Server
	url    string
	client *http.Client
	c      counters

	mu    sync.RWMutex
	files map[string]storeFile
	seq   int
}

type storeFile struct {
	body    []byte
	etag    string
	modTime time.Time
}

// newHTTPStore starts the server.
func newHTTPStore(client *http.Client) (*httpStore, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &httpStore{files: map[string]storeFile{}, url: "http://" + ln.Addr().String(), client: client}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *httpStore) name() string {
	return "a Go net/http server on 127.0.0.1 (fetcher.HTTP: conditional GET)"
}
func (s *httpStore) snap() snapshot { return s.c.snap() }
func (s *httpStore) close()         { s.srv.Close() }

func (s *httpStore) source(interval time.Duration) fetcher.Interface {
	return &fetcher.HTTP{URL: s.url + "/manifest.json", Interval: interval, Client: s.client}
}

func (s *httpStore) put(key string, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.files["/"+key] = storeFile{body: body, etag: fmt.Sprintf(`"%d"`, s.seq), modTime: time.Now()}
	return nil
}

// ServeHTTP serves a file, counting requests and body bytes.
func (s *httpStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	f, ok := s.files[r.URL.Path]
	s.mu.RUnlock()
	cw := &countingWriter{ResponseWriter: w, n: &s.c.bodyBytes, status: http.StatusOK}
	defer func() { s.c.count(r, cw.status) }()
	if !ok {
		http.NotFound(cw, r)
		return
	}
	w.Header().Set("ETag", f.etag)
	http.ServeContent(cw, r, "", f.modTime, bytes.NewReader(f.body))
}

// countingWriter counts body bytes and remembers the status.
type countingWriter struct {
	http.ResponseWriter
	n      *atomic.Int64
	status int
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}
