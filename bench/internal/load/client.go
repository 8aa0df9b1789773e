package load

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seed-710818af/overseer/bench/internal/app"
)

// Config configures Run.
type Config struct {
	// URL is requested with GET (or POST) by every client.
	URL string
	// Post sends POSTs with a small body that Go's transport cannot
	// replay (a plain io.Reader, so the request has no GetBody): a POST
	// that meets a closing connection fails instead of being re-sent.
	Post bool
	// Token is the service token; a 200 carrying another token is Foreign.
	Token string
	// Clients is the number of concurrent clients, each with its own
	// http.Transport and at most one request in flight.
	Clients int
	// KeepAlive reports whether client i keeps connections alive.
	KeepAlive func(i int) bool
	// Timeout bounds each request, including reading the body.
	Timeout time.Duration
	// MaxPerClient bounds the number of requests per client.
	MaxPerClient int
	// Pids records the first response of every serving process.
	Pids *PidLog
}

// postBody is what each POST sends.
const postBody = "order=42&item=a request that must reach the service exactly once"

// Sample is the outcome of one request.
type Sample struct {
	// Start is when the request began, since the load started.
	Start time.Duration
	// Latency is the time until the body was read completely or the
	// request failed.
	Latency time.Duration
	Class   Class
	// Pid is the process that answered (0 when none did).
	Pid int32
	// Err describes a failure (empty for OK and Retried).
	Err string
	// KeepAlive is the keep-alive setting of the client that sent it.
	KeepAlive bool
}

// End is when the request completed, since the load started.
func (s Sample) End() time.Duration { return s.Start + s.Latency }

// Result is everything Run observed.
type Result struct {
	// Samples are all requests, ordered by Start.
	Samples []Sample
}

// Run starts cfg.Clients clients that request cfg.URL back to back until ctx
// is done or each has made MaxPerClient requests. Requests in flight when
// ctx is done are completed (bounded by Timeout), so Run returns at most
// Timeout after ctx is done. Times are measured from start.
func Run(ctx context.Context, cfg Config, start time.Time) *Result {
	res := &Result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < cfg.Clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			samples := runClient(ctx, cfg, i, start)
			mu.Lock()
			res.Samples = append(res.Samples, samples...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	sort.Slice(res.Samples, func(a, b int) bool { return res.Samples[a].Start < res.Samples[b].Start })
	return res
}

// runClient is one client's loop.
func runClient(ctx context.Context, cfg Config, i int, start time.Time) []Sample {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		DisableKeepAlives:   !cfg.KeepAlive(i),
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	samples := make([]Sample, 0, 1024)
	for n := 0; n < cfg.MaxPerClient && ctx.Err() == nil; n++ {
		s := do(client, cfg, start)
		s.KeepAlive = !tr.DisableKeepAlives
		samples = append(samples, s)
	}
	return samples
}

// do performs one request and classifies it.
func do(client *http.Client, cfg Config, start time.Time) Sample {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	attempts := 0
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { attempts++ }}
	method, body := http.MethodGet, io.Reader(nil)
	if cfg.Post {
		method, body = http.MethodPost, io.NopCloser(strings.NewReader(postBody))
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, cfg.URL, body)
	if err != nil {
		panic(err) // the URL is built by the driver; an error is a bug
	}
	t0 := time.Now()
	s := Sample{Start: t0.Sub(start)}
	finish := func(c Class, msg string) Sample {
		s.Latency = time.Since(t0)
		s.Class = c
		s.Err = msg
		return s
	}
	resp, err := client.Do(req)
	if err != nil {
		return finish(classify(err), err.Error())
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	pid, _ := strconv.Atoi(resp.Header.Get(app.HeaderPid))
	s.Pid = int32(pid)
	switch {
	case err != nil:
		return finish(classify(err), "body: "+err.Error())
	case resp.StatusCode != http.StatusOK:
		return finish(Non200, resp.Status)
	case resp.Header.Get(app.HeaderToken) != cfg.Token || pid <= 0:
		return finish(Foreign, fmt.Sprintf("pid %q token %q", resp.Header.Get(app.HeaderPid), resp.Header.Get(app.HeaderToken)))
	}
	boot, _ := strconv.ParseInt(resp.Header.Get(app.HeaderBoot), 10, 64)
	out := finish(OK, "")
	if attempts > 1 {
		out.Class = Retried
	}
	cfg.Pids.observe(pid, out.End(), boot, resp.Header.Get(app.HeaderVersion))
	return out
}
