package fetcher

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/fetcher/internal/remote"
)

// newHTTP returns an initialised HTTP fetcher for path on s that polls fast.
func newHTTP(t *testing.T, s *testServer, path string) *HTTP {
	t.Helper()
	h := &HTTP{URL: s.URL + path, Interval: time.Millisecond, Timeout: 2 * time.Second}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	return h
}

// fetchAll calls Fetch and reads the result to the end. It returns nil, nil
// for "no update".
func fetchAll(t *testing.T, f Interface) ([]byte, error) {
	t.Helper()
	r, err := f.Fetch()
	if err != nil || r == nil {
		return nil, err
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	return io.ReadAll(r)
}

// mustFetch expects Fetch to deliver want.
func mustFetch(t *testing.T, f Interface, want []byte) {
	t.Helper()
	got, err := fetchAll(t, f)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if got == nil {
		t.Fatal("fetch: no update, want a new binary")
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fetch: got %d bytes, want %d", len(got), len(want))
	}
}

// mustNotChange expects Fetch to report no update.
func mustNotChange(t *testing.T, f Interface) {
	t.Helper()
	r, err := f.Fetch()
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if r != nil {
		t.Fatal("fetch: got a new binary, want no update")
	}
}

// fetchErr expects an error, from Fetch or from reading its result, that
// contains want.
func fetchErr(t *testing.T, f Interface, want string) error {
	t.Helper()
	_, err := fetchAll(t, f)
	t.Logf("error: %v", err)
	if err == nil {
		t.Fatalf("fetch succeeded, want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	return err
}

func TestHTTPInit(t *testing.T) {
	for _, u := range []string{"", "ftp://host/app", "/relative/app", "http://"} {
		if err := (&HTTP{URL: u}).Init(); err == nil {
			t.Errorf("Init(%q) succeeded, want an error", u)
		}
	}
	h := &HTTP{URL: "https://example.com/app"}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if h.Interval != DefaultInterval || h.MaxSize != DefaultMaxSize || h.Timeout != DefaultTimeout || len(h.CheckHeaders) != 3 {
		t.Errorf("defaults not applied: %+v", h)
	}
	if _, err := (&HTTP{URL: "http://x/"}).Fetch(); err == nil {
		t.Error("Fetch before Init succeeded")
	}
}

// TestHTTPUnchangedCostsNoBody: a poll of an unchanged binary is one
// conditional request answered 304, with no body bytes.
func TestHTTPUnchangedCostsNoBody(t *testing.T) {
	s := newTestServer(t)
	v1 := randomBytes(64 << 10)
	s.put("/app", &testFile{body: v1, etag: `"v1"`, modTime: time.Now().Add(-time.Hour)})
	h := newHTTP(t, s, "/app")

	mustFetch(t, h, v1)
	if n, b := s.counts(); n != 1 || b != int64(len(v1)) {
		t.Fatalf("first fetch: %d requests, %d body bytes; want 1, %d", n, b, len(v1))
	}
	for i := 0; i < 3; i++ {
		mustNotChange(t, h)
		if n, b := s.counts(); n != 1 || b != 0 {
			t.Fatalf("poll %d: %d requests, %d body bytes; want 1, 0", i, n, b)
		}
	}
	v2 := randomBytes(1000)
	s.put("/app", &testFile{body: v2, etag: `"v2"`, modTime: time.Now()})
	mustFetch(t, h, v2)
	mustNotChange(t, h)
}

// TestHTTPLastModifiedOnly: If-Modified-Since alone is enough.
func TestHTTPLastModifiedOnly(t *testing.T) {
	s := newTestServer(t)
	v1 := randomBytes(1000)
	s.put("/app", &testFile{body: v1, modTime: time.Now().Add(-time.Hour)})
	h := newHTTP(t, s, "/app")
	mustFetch(t, h, v1)
	s.counts()
	mustNotChange(t, h)
	if n, b := s.counts(); n != 1 || b != 0 {
		t.Fatalf("poll: %d requests, %d body bytes; want 1, 0", n, b)
	}
}

// TestHTTPNoValidators: without ETag and Last-Modified, a poll is one HEAD
// request compared by Content-Length.
func TestHTTPNoValidators(t *testing.T) {
	s := newTestServer(t)
	v1 := randomBytes(1000)
	s.put("/app", &testFile{body: v1})
	h := newHTTP(t, s, "/app")
	mustFetch(t, h, v1)
	s.counts()
	mustNotChange(t, h)
	if n, b := s.counts(); n != 1 || b != 0 {
		t.Fatalf("poll: %d requests, %d body bytes; want 1, 0", n, b)
	}
	v2 := randomBytes(1001)
	s.put("/app", &testFile{body: v2})
	mustFetch(t, h, v2)
}

// TestHTTPServerIgnoresConditional: a 200 with the same ETag is not a new
// version.
func TestHTTPServerIgnoresConditional(t *testing.T) {
	s := newTestServer(t)
	v1 := randomBytes(1000)
	s.put("/app", &testFile{body: v1, etag: `"v1"`, ignoreCond: true})
	h := newHTTP(t, s, "/app")
	mustFetch(t, h, v1)
	mustNotChange(t, h)
}

// TestHTTPRetriesAfterFailedDownload: validators are remembered only after
// a complete download, so a broken download is fetched again.
func TestHTTPRetriesAfterFailedDownload(t *testing.T) {
	s := newTestServer(t)
	v1 := randomBytes(100 << 10)
	s.put("/app", &testFile{body: v1, etag: `"v1"`})
	h := newHTTP(t, s, "/app")
	r, err := h.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch = %v, %v", r, err)
	}
	io.ReadFull(r, make([]byte, 10))
	r.(io.Closer).Close()
	mustFetch(t, h, v1)
	mustNotChange(t, h)
}

func TestHTTPGzip(t *testing.T) {
	s := newTestServer(t)
	bin := bytes.Repeat([]byte("binary "), 10000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bin)
	zw.Close()
	s.put("/app.gz", &testFile{body: gz.Bytes(), etag: `"gz"`})
	mustFetch(t, newHTTP(t, s, "/app.gz"), bin)

	// The same file declared as Content-Encoding is decompressed once.
	s.hook("/enc.gz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz.Bytes())
	})
	mustFetch(t, newHTTP(t, s, "/enc.gz"), bin)
}

func TestHTTPStatusErrors(t *testing.T) {
	s := newTestServer(t)
	s.hook("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	fetchErr(t, newHTTP(t, s, "/missing"), "404 Not Found")
	err := fetchErr(t, newHTTP(t, s, "/500"), "500 Internal Server Error")
	if !strings.HasPrefix(err.Error(), "fetcher.HTTP: get http://127.0.0.1:") {
		t.Errorf("error lacks context: %v", err)
	}
}

func TestHTTPConnectionResetMidBody(t *testing.T) {
	s := newTestServer(t)
	s.hook("/app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(randomBytes(10000))
		w.(http.Flusher).Flush()
		resetConnection(w)
	})
	fetchErr(t, newHTTP(t, s, "/app"), "fetcher.HTTP: get")
}

func TestHTTPTruncatedBody(t *testing.T) {
	s := newTestServer(t)
	s.hook("/app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2000")
		w.Write(randomBytes(1000))
	})
	err := fetchErr(t, newHTTP(t, s, "/app"), "fetcher.HTTP: get")
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error %v is not io.ErrUnexpectedEOF", err)
	}
}

func TestHTTPStalls(t *testing.T) {
	s := newTestServer(t)
	s.hook("/headers", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.done:
		case <-r.Context().Done():
		}
	})
	s.hook("/body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-s.done:
		case <-r.Context().Done():
		}
	})
	for _, path := range []string{"/headers", "/body"} {
		h := newHTTP(t, s, path)
		h.Timeout = 200 * time.Millisecond
		start := time.Now()
		err := fetchErr(t, h, "stalled")
		if !errors.Is(err, remote.ErrStalled) {
			t.Errorf("%s: %v is not ErrStalled", path, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %s to time out after 200ms", path, d)
		}
	}
}

func TestHTTPRedirectLoop(t *testing.T) {
	s := newTestServer(t)
	s.hook("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	fetchErr(t, newHTTP(t, s, "/loop"), "redirects")
}

func TestHTTPSizeLimit(t *testing.T) {
	s := newTestServer(t)
	s.put("/big", &testFile{body: randomBytes(2000)})
	s.hook("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 20; i++ {
			w.Write(randomBytes(100))
			w.(http.Flusher).Flush()
		}
	})
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	s.put("/bomb.gz", &testFile{body: bomb.Bytes()})
	for _, path := range []string{"/big", "/chunked", "/bomb.gz"} {
		h := newHTTP(t, s, path)
		h.MaxSize = 1500
		if err := fetchErr(t, h, "size limit"); !errors.Is(err, remote.ErrTooLarge) {
			t.Errorf("%s: %v is not ErrTooLarge", path, err)
		}
	}
	// Exactly at the limit is fine.
	exact := randomBytes(1500)
	s.hook("/exact", func(w http.ResponseWriter, r *http.Request) { w.Write(exact) })
	h := newHTTP(t, s, "/exact")
	h.MaxSize = 1500
	mustFetch(t, h, exact)
}

func TestHTTPCorruptGzip(t *testing.T) {
	s := newTestServer(t)
	s.put("/bad.gz", &testFile{body: []byte("this is not gzip at all")})
	fetchErr(t, newHTTP(t, s, "/bad.gz"), "gunzip")

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(randomBytes(5000))
	zw.Close()
	b := gz.Bytes()
	b[len(b)-6] ^= 0xff // break the CRC
	s.put("/crc.gz", &testFile{body: b})
	fetchErr(t, newHTTP(t, s, "/crc.gz"), "gunzip")
}

func TestHTTPSignature(t *testing.T) {
	s := newTestServer(t)
	bin := randomBytes(1000)
	sig := testMinisig()
	s.put("/signed", &testFile{body: bin})
	s.put("/signed.minisig", &testFile{body: sig})
	s.put("/unsigned", &testFile{body: bin})
	s.put("/bad", &testFile{body: bin})
	s.put("/bad.minisig", &testFile{body: []byte("<html>not found</html>")})
	s.put("/err", &testFile{body: bin})
	s.hook("/err.minisig", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) })

	signature := func(path string) ([]byte, error) {
		r, err := newHTTP(t, s, path).Fetch()
		if err != nil {
			t.Fatal(err)
		}
		defer r.(io.Closer).Close()
		return r.(Signed).Signature()
	}
	got, err := signature("/signed")
	if err != nil || !bytes.Equal(got, sig) {
		t.Errorf("signed: %q, %v", got, err)
	}
	got, err = signature("/unsigned")
	if err != nil || got != nil {
		t.Errorf("unsigned: %q, %v; want nil, nil", got, err)
	}
	if _, err = signature("/bad"); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("malformed: %v", err)
	}
	if _, err = signature("/err"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("server error: %v", err)
	}
}

// TestHTTPHeaders: extra headers are sent, and the signature request keeps
// the query string.
func TestHTTPHeaders(t *testing.T) {
	s := newTestServer(t)
	var auth, sigQuery string
	s.hook("/app", func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Write([]byte("bin"))
	})
	s.hook("/app.minisig", func(w http.ResponseWriter, r *http.Request) {
		sigQuery = r.URL.RawQuery
		http.NotFound(w, r)
	})
	h := &HTTP{URL: s.URL + "/app?token=secret", Header: http.Header{"Authorization": {"Bearer x"}}}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	r, err := h.Fetch()
	if err != nil {
		t.Fatal(err)
	}
	if sig, err := r.(Signed).Signature(); sig != nil || err != nil {
		t.Errorf("Signature = %q, %v", sig, err)
	}
	io.Copy(io.Discard, r)
	if auth != "Bearer x" || sigQuery != "token=secret" {
		t.Errorf("auth %q, signature query %q", auth, sigQuery)
	}
	if strings.Contains(h.op, "secret") {
		t.Errorf("the query leaks into errors: %s", h.op)
	}
}

// TestHTTPCloseUnblocksRead: closing the reader stops a blocked read.
func TestHTTPCloseUnblocksRead(t *testing.T) {
	s := newTestServer(t)
	s.hook("/app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(1<<20))
		w.Write([]byte("x"))
		w.(http.Flusher).Flush()
		select {
		case <-s.done:
		case <-r.Context().Done():
		}
	})
	h := newHTTP(t, s, "/app")
	h.Timeout = time.Minute
	r, err := h.Fetch()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	r.(io.Closer).Close()
	select {
	case err := <-done:
		if !errors.Is(err, remote.ErrClosed) {
			t.Errorf("read after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

// TestHTTPNewETagWins: a changed ETag is a new version even when the
// CheckHeaders values are equal.
func TestHTTPNewETagWins(t *testing.T) {
	s := newTestServer(t)
	v1, v2 := randomBytes(1000), randomBytes(1000)
	s.put("/app", &testFile{body: v1, etag: `"1"`})
	h := newHTTP(t, s, "/app")
	h.CheckHeaders = []string{"Content-Length"}
	mustFetch(t, h, v1)
	s.put("/app", &testFile{body: v2, etag: `"2"`})
	mustFetch(t, h, v2)
}

// TestHTTPNothingToCompare: without validators or CheckHeaders values, each
// poll is a single GET and the master dedups by hash.
func TestHTTPNothingToCompare(t *testing.T) {
	s := newTestServer(t)
	s.hook("/app", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("bin")) // no Content-Length after a flush
		w.(http.Flusher).Flush()
	})
	h := newHTTP(t, s, "/app")
	mustFetch(t, h, []byte("bin"))
	s.counts()
	mustFetch(t, h, []byte("bin"))
	if n, _ := s.counts(); n != 1 {
		t.Fatalf("%d requests for one poll", n)
	}
}
