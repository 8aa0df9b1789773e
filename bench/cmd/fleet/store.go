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
)

// store is the release store every simulated host polls: a real HTTP
// server on 127.0.0.1 serving files from memory with strong ETags, so an
// unchanged file costs a 304 and no body, as S3 or a CDN answers.
type store struct {
	srv *http.Server
	url string

	mu    sync.RWMutex
	files map[string]storeFile

	requests, bodyBytes atomic.Int64
	notModified         atomic.Int64
	assetGets           atomic.Int64
}

type storeFile struct {
	body    []byte
	etag    string
	modTime time.Time
}

// newStore starts the server.
func newStore() (*store, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &store{files: map[string]storeFile{}, url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

var etagSeq atomic.Int64

// put publishes body at path.
func (s *store) put(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = storeFile{body: body, etag: fmt.Sprintf(`"%d"`, etagSeq.Add(1)), modTime: time.Now()}
}

// ServeHTTP serves a file, counting requests and body bytes.
func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.RLock()
	f, ok := s.files[r.URL.Path]
	s.mu.RUnlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/app") {
		s.assetGets.Add(1)
	}
	w.Header().Set("ETag", f.etag)
	cw := &countingWriter{ResponseWriter: w, n: &s.bodyBytes}
	http.ServeContent(cw, r, "", f.modTime, bytes.NewReader(f.body))
	if cw.status == http.StatusNotModified {
		s.notModified.Add(1)
	}
}

// snapshot is the store's counters at one moment.
type snapshot struct {
	at                      time.Time
	requests, bytes, notMod int64
}

func (s *store) snap() snapshot {
	return snapshot{at: time.Now(), requests: s.requests.Load(), bytes: s.bodyBytes.Load(), notMod: s.notModified.Load()}
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
