package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPRestartsOverTLSAndH2C runs concurrent requests through restarts of
// ./examples/http2 (graceful.Serve) over each transport a program can
// serve: HTTP/2 over TLS, h2c, and HTTP/1.1 over TLS. No request may fail.
// Each request takes 50ms, so streams are in flight at every drain.
//
// HTTP/2 requests are GETs and POSTs with a replayable body: a stream the
// server refuses by its GOAWAY was never processed and is safe for a client
// to send again, and Go's transport does. HTTP/1.1 requests are POSTs with
// a body the client cannot replay, so a retry is impossible and any lost
// request shows as a failure.
func TestHTTPRestartsOverTLSAndH2C(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		proto int
	}{
		{"h2-tls", nil, 2},
		{"h2c", []string{"-h2c"}, 2},
		{"http1-tls", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-addr", freeAddr(t), "-terminate", "10s", "-delay", "50ms"}, tc.args...)
			s := start(t, build(t, "http2"), args...)
			addr, pid := s.waitServing(20 * time.Second)
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			url := "https://" + addr + "/"
			switch {
			case tc.name == "h2c":
				tr.Protocols = new(http.Protocols)
				tr.Protocols.SetUnencryptedHTTP2(true)
				url = "http://" + addr + "/"
			case tc.proto == 2:
				// The example's certificate is self-signed; the traffic
				// stays on 127.0.0.1.
				tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
				tr.ForceAttemptHTTP2 = true
			default:
				tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			res := loadHTTP(t, s, &pid, &http.Client{Transport: tr, Timeout: 10 * time.Second}, url, tc.proto, 16, 3)
			t.Logf("%s: %d requests, %d failed, %d not HTTP/%d; restart→old child gone: %v", tc.name, res.ok+res.failed, res.failed, res.wrongProto, tc.proto, res.drains)
			if res.failed != 0 || res.wrongProto != 0 {
				t.Errorf("%d failed requests and %d on the wrong protocol, want none", res.failed, res.wrongProto)
			}
			if res.ok == 0 {
				t.Error("no request succeeded")
			}
		})
	}
}

// httpResult is what loadHTTP measured.
type httpResult struct {
	ok, failed, wrongProto int64
	drains                 []time.Duration
}

// loadHTTP keeps workers sending requests to url while it restarts s
// restarts times, waiting each time for the old child to exit.
func loadHTTP(t *testing.T, s *service, pid *int, client *http.Client, url string, proto, workers, restarts int) httpResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed, wrong atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				var req *http.Request
				body := fmt.Sprintf("worker %d request %d", w, n)
				switch {
				case proto == 1:
					req, _ = http.NewRequest("POST", url, io.NopCloser(strings.NewReader(body)))
					req.ContentLength = int64(len(body))
				case n%2 == 0:
					req, _ = http.NewRequest("POST", url, bytes.NewReader([]byte(body)))
				default:
					req, _ = http.NewRequest("GET", url, nil)
				}
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					t.Logf("worker %d: %v", w, err)
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case err != nil || resp.StatusCode != http.StatusOK:
					failed.Add(1)
					t.Logf("worker %d: status %d, body: %v", w, resp.StatusCode, err)
				case resp.ProtoMajor != proto:
					wrong.Add(1)
				default:
					ok.Add(1)
				}
			}
		}(w)
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(300 * time.Millisecond)
	var drains []time.Duration
	for r := 0; r < restarts; r++ {
		old := *pid
		start := time.Now()
		*pid = s.restart()
		if _, done := waitExit(old, 15*time.Second); !done {
			t.Fatalf("old child %d still running 15s after the restart", old)
		}
		drains = append(drains, time.Since(start).Round(time.Millisecond))
		time.Sleep(300 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	return httpResult{ok: ok.Load(), failed: failed.Load(), wrongProto: wrong.Load(), drains: drains}
}
