package overseer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// load is a set of HTTP clients hammering a service, counting outcomes.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	ok       int
	failed   map[string]int // by error class
	retried  int            // requests the transport silently re-sent
	versions map[string]int
	post     bool // send POSTs with a body the transport cannot replay
}

// startLoad starts workers clients against addr, each with its own
// transport, sending GETs. Every loop is bounded by maxDuration.
func startLoad(addr string, workers int, keepAlive bool, path string, maxDuration time.Duration) *load {
	return startLoadWith(addr, workers, keepAlive, false, path, maxDuration)
}

// startLoadWith is startLoad, sending POSTs whose body cannot be replayed
// (so Go's transport cannot retry them) if post is set.
func startLoadWith(addr string, workers int, keepAlive, post bool, path string, maxDuration time.Duration) *load {
	ctx, cancel := context.WithTimeout(context.Background(), maxDuration)
	l := &load{cancel: cancel, failed: map[string]int{}, versions: map[string]int{}, post: post}
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 15 * time.Second}
			for ctx.Err() == nil {
				l.one(ctx, client, "http://"+addr+path)
			}
		}()
	}
	return l
}

// one sends one request and records its outcome.
func (l *load) one(ctx context.Context, client *http.Client, url string) {
	conns := 0
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns++ }}
	method, payload := http.MethodGet, io.Reader(nil)
	if l.post {
		// Not a *strings.Reader: the request gets no GetBody, so the
		// transport can never re-send it.
		method, payload = http.MethodPost, io.NopCloser(strings.NewReader("a request that must not be lost"))
	}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, url, payload)
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if conns > 1 {
		l.retried++
	}
	if err != nil {
		if ctx.Err() != nil {
			return // cut short by the end of the run, not by the service
		}
		l.failed[classify(err)]++
		return
	}
	l.ok++
	if f := strings.Fields(string(body)); len(f) > 0 {
		l.versions[f[0]]++
	}
}

// stop ends the load and waits for the clients.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// failures returns the failed count and a description.
func (l *load) failures() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	var parts []string
	for k, v := range l.failed {
		n += v
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return n, strings.Join(parts, " ")
}

// counts returns ok and retried.
func (l *load) counts() (ok, retried int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.retried
}

// classify names an error's kind.
func classify(err error) string {
	s := err.Error()
	for _, k := range []string{"refused", "reset", "EOF", "timeout", "status"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return s
}

// restartUnderLoad restarts s n times, pause apart, while l loads it, then
// stops l and checks that every request succeeded and none was re-sent by
// the client; what names the requests in messages.
func restartUnderLoad(t *testing.T, s *service, l *load, n int, pause time.Duration, what string) {
	t.Helper()
	pid := s.mustGet("/").pid
	for i := 0; i < n; i++ {
		time.Sleep(pause)
		pid = s.restartAndWait(pid).pid
	}
	time.Sleep(pause)
	l.stop()
	failed, detail := l.failures()
	ok, retried := l.counts()
	t.Logf("%s: ok=%d failed=%d (%s) retried=%d", what, ok, failed, detail, retried)
	if ok == 0 {
		t.Fatalf("no %s succeeded", what)
	}
	if failed > 0 {
		t.Errorf("%d %s failed: %s", failed, what, detail)
	}
	if retried > 0 {
		t.Errorf("%d %s were re-sent by the client", retried, what)
	}
	waitChildren(t, s.cmd.Process.Pid, 1)
}
