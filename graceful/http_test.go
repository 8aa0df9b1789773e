package graceful_test

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/graceful"
)

// TestServeDrainsWithoutRetries: clients busy on keep-alive connections
// during a drain see every request answered, none retried.
func TestServeDrainsWithoutRetries(t *testing.T) {
	l := listen(t)
	srv := &http.Server{Handler: slowHandler}
	drain := make(chan bool)
	served := make(chan error, 1)
	go func() { served <- graceful.Serve(srv, l, drain) }()

	var draining atomic.Bool
	var ok, failed, retried atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for n := 0; n < 10000 && !draining.Load(); n++ {
				conns := 0
				trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns++ }}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+l.Addr().String()+"/?sleep=1ms", nil)
				resp, err := client.Do(req)
				if conns > 1 {
					retried.Add(1)
				}
				if err != nil {
					if !draining.Load() {
						failed.Add(1)
					}
					continue
				}
				resp.Body.Close()
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	draining.Store(true)
	close(drain)
	wg.Wait()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
	t.Logf("ok=%d failed=%d retried=%d", ok.Load(), failed.Load(), retried.Load())
	if ok.Load() == 0 {
		t.Fatal("no request succeeded")
	}
	if failed.Load() > 0 || retried.Load() > 0 {
		t.Errorf("failed=%d retried=%d, want 0 and 0", failed.Load(), retried.Load())
	}
}

// TestServeClosesIdleConnectionsAfterGrace: an idle keep-alive connection
// does not hold the drain beyond the idle grace.
func TestServeClosesIdleConnectionsAfterGrace(t *testing.T) {
	l := listen(t)
	srv := &http.Server{Handler: slowHandler}
	drain := make(chan bool)
	served := make(chan error, 1)
	go func() { served <- graceful.Serve(srv, l, drain) }()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	if _, err := get(&http.Client{Transport: tr}, "http://"+l.Addr().String()+"/"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	close(drain)
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an idle connection held the drain")
	}
	if took := time.Since(start); took < graceful.DefaultIdleGrace {
		t.Errorf("drain took %s, less than the idle grace %s", took, graceful.DefaultIdleGrace)
	}
}

// TestServeReturnsServeError: a listener that fails is reported.
func TestServeReturnsServeError(t *testing.T) {
	l := listen(t)
	l.Close()
	if err := graceful.Serve(&http.Server{}, l, make(chan bool)); err == nil {
		t.Fatal("Serve on a closed listener returned nil")
	}
}
