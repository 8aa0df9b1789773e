package s3_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/fetcher/internal/remote"
	_ "github.com/seed-710818af/overseer/fetcher/s3"
)

// countingProxy sits between the fetcher and versitygw and counts requests
// by method, the response body bytes it relays and the connections its
// clients open.
type countingProxy struct {
	*httptest.Server
	mu        sync.Mutex
	methods   map[string]int
	bodyBytes int64
	conns     int
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{methods: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	// The request keeps the Host it was signed for (the proxy's address).
	rp.ModifyResponse = func(resp *http.Response) error {
		resp.Body = &countingBody{ReadCloser: resp.Body, p: p}
		return nil
	}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.methods[r.Method]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	p.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			p.mu.Lock()
			p.conns++
			p.mu.Unlock()
		}
	}
	p.Start()
	t.Cleanup(p.Close)
	return p
}

// connections returns how many connections clients have opened so far.
func (p *countingProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// counts returns and resets the request and byte counters.
func (p *countingProxy) counts() (methods map[string]int, bodyBytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	methods, bodyBytes = p.methods, p.bodyBytes
	p.methods, p.bodyBytes = map[string]int{}, 0
	return methods, bodyBytes
}

type countingBody struct {
	io.ReadCloser
	p *countingProxy
}

func (b *countingBody) Read(q []byte) (int, error) {
	n, err := b.ReadCloser.Read(q)
	b.p.mu.Lock()
	b.p.bodyBytes += int64(n)
	b.p.mu.Unlock()
	return n, err
}

// newS3 returns an initialised fetcher.S3 for bucket/key at endpoint that
// polls fast.
func newS3(t *testing.T, endpoint, bucket, key string) *fetcher.S3 {
	t.Helper()
	f := &fetcher.S3{
		Access: testAccess, Secret: testSecret, Region: testRegion,
		Bucket: bucket, Key: key, Endpoint: endpoint, UsePathStyle: true,
		Interval: time.Millisecond, HeadTimeout: 5 * time.Second, GetTimeout: 10 * time.Second,
	}
	if err := f.Init(); err != nil {
		t.Fatal(err)
	}
	return f
}

func fetchAll(t *testing.T, f fetcher.Interface) ([]byte, error) {
	t.Helper()
	r, err := f.Fetch()
	if err != nil || r == nil {
		return nil, err
	}
	defer r.(io.Closer).Close()
	return io.ReadAll(r)
}

func mustFetch(t *testing.T, f fetcher.Interface, want []byte) {
	t.Helper()
	got, err := fetchAll(t, f)
	if err != nil || got == nil || !bytes.Equal(got, want) {
		t.Fatalf("fetch: %d bytes, %v; want %d bytes", len(got), err, len(want))
	}
}

func mustNotChange(t *testing.T, f fetcher.Interface) {
	t.Helper()
	if r, err := f.Fetch(); r != nil || err != nil {
		t.Fatalf("fetch: %v, %v; want no update", r, err)
	}
}

func fetchErr(t *testing.T, f fetcher.Interface, want string) error {
	t.Helper()
	_, err := fetchAll(t, f)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("fetch error %v, want one containing %q", err, want)
	}
	return err
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func testMinisig() []byte {
	return []byte("untrusted comment: signature from minisign secret key\n" +
		base64.StdEncoding.EncodeToString(append([]byte("ED"), randomBytes(72)...)) + "\n" +
		"trusted comment: timestamp:1700000000\tfile:app\n" +
		base64.StdEncoding.EncodeToString(randomBytes(64)) + "\n")
}

// TestS3 runs against one versitygw server.
func TestS3(t *testing.T) {
	gw := startVersityGW(t)
	gw.mkBucket(t, "releases")

	t.Run("UnchangedIsOneHeadAndNoBody", func(t *testing.T) {
		proxy := newCountingProxy(t, gw.Endpoint)
		v1 := randomBytes(200 << 10)
		gw.put(t, "releases", "app", v1)
		f := newS3(t, proxy.URL, "releases", "app")

		r, err := f.Fetch()
		if err != nil || r == nil {
			t.Fatalf("Fetch = %v, %v", r, err)
		}
		if m, b := proxy.counts(); m["HEAD"] != 1 || len(m) != 1 || b != 0 {
			t.Fatalf("Fetch sent %v and read %d body bytes; want one HEAD and no GET before the first Read", m, b)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, v1) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		if m, b := proxy.counts(); m["GET"] != 1 || b != int64(len(v1)) {
			t.Fatalf("download: %v, %d body bytes", m, b)
		}
		for i := 0; i < 3; i++ {
			mustNotChange(t, f)
			if m, b := proxy.counts(); m["HEAD"] != 1 || len(m) != 1 || b != 0 {
				t.Fatalf("poll %d: %v, %d body bytes; want one HEAD, no body", i, m, b)
			}
		}
		v2 := randomBytes(1000)
		gw.put(t, "releases", "app", v2)
		mustFetch(t, f, v2)
		mustNotChange(t, f)
	})

	t.Run("FailedDownloadIsRetried", func(t *testing.T) {
		v1 := randomBytes(100 << 10)
		gw.put(t, "releases", "retry", v1)
		f := newS3(t, gw.Endpoint, "releases", "retry")
		r, err := f.Fetch()
		if err != nil || r == nil {
			t.Fatal(err)
		}
		io.ReadFull(r, make([]byte, 100))
		r.(io.Closer).Close()
		mustFetch(t, f, v1)
		mustNotChange(t, f)
	})

	t.Run("ReplacedDuringDownloadIsPolledAgainAtOnce", func(t *testing.T) {
		v1, v2 := randomBytes(10<<10), randomBytes(20<<10)
		gw.put(t, "releases", "replaced", v1)
		f := &fetcher.S3{
			Access: testAccess, Secret: testSecret, Region: testRegion,
			Bucket: "releases", Key: "replaced", Endpoint: gw.Endpoint, UsePathStyle: true,
			Interval: time.Hour, // a poll that waited would time the test out
		}
		if err := f.Init(); err != nil {
			t.Fatal(err)
		}
		r, err := f.Fetch()
		if err != nil || r == nil {
			t.Fatalf("Fetch = %v, %v", r, err)
		}
		// Published between the HEAD and the GET: If-Match fails.
		gw.put(t, "releases", "replaced", v2)
		_, err = io.ReadAll(r)
		r.(io.Closer).Close()
		if !errors.Is(err, fetcher.ErrReplaced) {
			t.Fatalf("read of a replaced object: %v", err)
		}
		type result struct {
			body []byte
			err  error
		}
		done := make(chan result, 1)
		go func() {
			r, err := f.Fetch()
			if err != nil || r == nil {
				done <- result{nil, fmt.Errorf("Fetch = %v, %v", r, err)}
				return
			}
			defer r.(io.Closer).Close()
			b, err := io.ReadAll(r)
			done <- result{b, err}
		}()
		select {
		case res := <-done:
			if res.err != nil || !bytes.Equal(res.body, v2) {
				t.Fatalf("the poll after a replaced download: %d bytes, %v; want the new %d", len(res.body), res.err, len(v2))
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the poll after a replaced download waited")
		}
	})

	t.Run("OwnHTTPClient", func(t *testing.T) {
		gw.put(t, "releases", "client", []byte("bin"))
		var sent countingTransport
		f := &fetcher.S3{
			Access: testAccess, Secret: testSecret, Region: testRegion,
			Bucket: "releases", Key: "client", Endpoint: gw.Endpoint, UsePathStyle: true,
			Interval: time.Millisecond, Client: &http.Client{Transport: &sent},
		}
		if err := f.Init(); err != nil {
			t.Fatal(err)
		}
		mustFetch(t, f, []byte("bin"))
		mustNotChange(t, f)
		if n := sent.n.Load(); n != 3 { // HEAD, GET, HEAD
			t.Fatalf("the program's client sent %d requests, want 3", n)
		}
	})

	t.Run("Gzip", func(t *testing.T) {
		bin := bytes.Repeat([]byte("binary "), 5000)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(bin)
		zw.Close()
		gw.put(t, "releases", "app.gz", gz.Bytes())
		mustFetch(t, newS3(t, gw.Endpoint, "releases", "app.gz"), bin)

		gw.put(t, "releases", "corrupt.gz", []byte("not gzip"))
		fetchErr(t, newS3(t, gw.Endpoint, "releases", "corrupt.gz"), "gunzip")
	})

	t.Run("Signature", func(t *testing.T) {
		sig := testMinisig()
		gw.put(t, "releases", "signed", []byte("bin"))
		gw.put(t, "releases", "signed.minisig", sig)
		gw.put(t, "releases", "unsigned", []byte("bin"))
		gw.put(t, "releases", "badsig", []byte("bin"))
		gw.put(t, "releases", "badsig.minisig", []byte("<Error>nope</Error>"))
		signature := func(key string) ([]byte, error) {
			r, err := newS3(t, gw.Endpoint, "releases", key).Fetch()
			if err != nil || r == nil {
				t.Fatalf("Fetch %s: %v, %v", key, r, err)
			}
			defer r.(io.Closer).Close()
			return r.(fetcher.Signed).Signature()
		}
		if got, err := signature("signed"); err != nil || !bytes.Equal(got, sig) {
			t.Errorf("signed: %q, %v", got, err)
		}
		if got, err := signature("unsigned"); err != nil || got != nil {
			t.Errorf("unsigned: %q, %v; want nil, nil", got, err)
		}
		if got, err := signature("badsig"); err == nil || got != nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("malformed: %q, %v", got, err)
		}
	})

	t.Run("SizeLimit", func(t *testing.T) {
		gw.put(t, "releases", "big", randomBytes(5000))
		f := newS3(t, gw.Endpoint, "releases", "big")
		f.MaxSize = 1000
		if err := fetchErr(t, f, "size limit"); !errors.Is(err, remote.ErrTooLarge) {
			t.Errorf("%v is not ErrTooLarge", err)
		}
		var bomb bytes.Buffer
		zw := gzip.NewWriter(&bomb)
		zw.Write(make([]byte, 1<<20))
		zw.Close()
		gw.put(t, "releases", "bomb.gz", bomb.Bytes())
		f = newS3(t, gw.Endpoint, "releases", "bomb.gz")
		f.MaxSize = 100 << 10
		fetchErr(t, f, "size limit")
	})

	t.Run("Errors", func(t *testing.T) {
		gw.put(t, "releases", "app", []byte("bin"))
		fetchErr(t, newS3(t, gw.Endpoint, "releases", "missing-key"), "fetcher.S3: s3://releases/missing-key: head: not found")
		fetchErr(t, newS3(t, gw.Endpoint, "no-such-bucket", "app"), "not found")

		wrongSecret := &fetcher.S3{Access: testAccess, Secret: "wrong-secret", Region: testRegion, Bucket: "releases", Key: "app",
			Endpoint: gw.Endpoint, UsePathStyle: true, HeadTimeout: 5 * time.Second}
		if err := wrongSecret.Init(); err != nil {
			t.Fatal(err)
		}
		fetchErr(t, wrongSecret, "access denied")

		unknownKey := &fetcher.S3{Access: "nobody", Secret: testSecret, Region: testRegion, Bucket: "releases", Key: "app",
			Endpoint: gw.Endpoint, UsePathStyle: true, HeadTimeout: 5 * time.Second}
		if err := unknownKey.Init(); err != nil {
			t.Fatal(err)
		}
		fetchErr(t, unknownKey, "fetcher.S3: s3://releases/app: head:")

		// Nothing listening: fails promptly, with the operation named.
		port, _ := freePort()
		start := time.Now()
		fetchErr(t, newS3(t, "http://127.0.0.1:"+strconv.Itoa(port), "releases", "app"), "fetcher.S3: s3://releases/app: head:")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s to fail", d)
		}
	})
}

// TestS3Stall: a server that never answers makes HEAD time out after
// HeadTimeout, and one that stops mid-body fails the read.
func TestS3Stall(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "hang") {
			select {
			case <-done:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Content-Length", "100000")
		if r.Method == http.MethodHead {
			return
		}
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(done)

	f := newS3(t, srv.URL, "b", "hang")
	f.HeadTimeout = 300 * time.Millisecond
	start := time.Now()
	fetchErr(t, f, "timed out")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("HEAD timeout took %s", d)
	}

	f = &fetcher.S3{Access: "a", Secret: "s", Region: testRegion, Bucket: "b", Key: "body",
		Endpoint: srv.URL, UsePathStyle: true, GetTimeout: 500 * time.Millisecond}
	if err := f.Init(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	fetchErr(t, f, "deadline")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("GET timeout took %s", d)
	}
}

// countingTransport is an http.RoundTripper that counts the requests it
// sends through the default transport.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}
