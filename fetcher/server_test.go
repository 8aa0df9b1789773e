package fetcher

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testFile is one resource served by testServer.
type testFile struct {
	body       []byte
	etag       string    // "" means no ETag header
	modTime    time.Time // zero means no Last-Modified header
	ignoreCond bool      // answer 200 to conditional requests
}

// testServer is a real HTTP server on 127.0.0.1 that serves files, counts
// requests and body bytes, and misbehaves on demand.
type testServer struct {
	*httptest.Server
	t *testing.T

	mu    sync.Mutex
	files map[string]*testFile
	hooks map[string]http.HandlerFunc // path → misbehaving handler
	log   []string                    // "METHOD /path status"

	requests  atomic.Int64
	bodyBytes atomic.Int64
	inflight  atomic.Int64
	// done is closed when the test ends, releasing stalled handlers.
	done chan struct{}
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{t: t, files: map[string]*testFile{}, hooks: map[string]http.HandlerFunc{}, done: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.done)
		s.CloseClientConnections()
		s.Close()
	})
	return s
}

// put publishes body at path with an ETag derived from a counter.
func (s *testServer) put(path string, f *testFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = f
}

// hook makes path misbehave.
func (s *testServer) hook(path string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[path] = h
}

// counts returns and resets the request and body-byte counters, once the
// handlers in flight have finished (a client can read the last byte before
// the handler's Write returns).
func (s *testServer) counts() (requests, bodyBytes int64) {
	for i := 0; i < 200 && s.inflight.Load() > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return s.requests.Swap(0), s.bodyBytes.Swap(0)
}

func (s *testServer) serve(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	s.requests.Add(1)
	cw := &countingWriter{ResponseWriter: w, n: &s.bodyBytes, status: 200}
	s.mu.Lock()
	hook, f := s.hooks[r.URL.Path], s.files[r.URL.Path]
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.log = append(s.log, r.Method+" "+r.URL.Path+" "+http.StatusText(cw.status))
		s.mu.Unlock()
	}()
	if hook != nil {
		hook(cw, r)
		return
	}
	if f == nil {
		http.NotFound(cw, r)
		return
	}
	if f.etag != "" {
		cw.Header().Set("ETag", f.etag)
	}
	if f.ignoreCond {
		r.Header.Del("If-None-Match")
		r.Header.Del("If-Modified-Since")
	}
	http.ServeContent(cw, r, "", f.modTime, bytes.NewReader(f.body))
}

// countingWriter counts the body bytes a handler writes.
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
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (to hijack it).
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// resetConnection makes the handler abort its connection with a TCP reset.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// testMinisig returns a structurally valid minisign signature file.
func testMinisig() []byte {
	sig := append([]byte("ED"), randomBytes(72)...)
	return []byte("untrusted comment: signature from minisign secret key\n" +
		base64.StdEncoding.EncodeToString(sig) + "\n" +
		"trusted comment: timestamp:1700000000\tfile:app\n" +
		base64.StdEncoding.EncodeToString(randomBytes(64)) + "\n")
}
