package app

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// MaxSleep bounds the ?sleep= parameter so a typo cannot park a handler.
const MaxSleep = 10 * time.Second

// Response headers that identify the process that served a request.
const (
	HeaderPid     = "X-Bench-Pid"     // pid of the serving process
	HeaderToken   = "X-Bench-Token"   // the BENCH_TOKEN of the service
	HeaderBoot    = "X-Bench-Boot"    // wall clock (Unix ns) when the process started
	HeaderVersion = "X-Bench-Version" // Version of the serving binary
)

// boot is when this process initialised the package, in Unix nanoseconds.
var boot = time.Now().UnixNano()

// Handler returns the benchmark handler: it reads the request body, waits for the duration given in
// ?sleep= (0 when absent or invalid, at most MaxSleep) and then answers 200
// with headers and a one-line body naming the serving pid, the service token
// and the binary version. It is safe for concurrent use.
func Handler() http.Handler {
	pid := strconv.Itoa(os.Getpid())
	token := os.Getenv("BENCH_TOKEN")
	bootStr := strconv.FormatInt(boot, 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // a POST's body, read as a real handler would
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil && d > 0 {
			if d > MaxSleep {
				d = MaxSleep
			}
			time.Sleep(d)
		}
		h := w.Header()
		h.Set(HeaderPid, pid)
		h.Set(HeaderToken, token)
		h.Set(HeaderBoot, bootStr)
		h.Set(HeaderVersion, Version)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "pid=%s version=%s token=%s\n", pid, Version, token)
	})
}
