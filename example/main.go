// Command example is a small HTTP service that upgrades itself.
//
// It listens on ADDR (default 127.0.0.1:3000) and watches the file named by
// WATCH (default ./example.next): writing a new build of this program there
// makes every running instance verify it and hand over to it, without
// dropping a request. SIGUSR2 restarts it on the same binary; SIGTERM stops
// it after a drain. See ../example.sh for the whole tour.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/graceful"
)

// version is set at build time: go build -ldflags "-X main.version=v2".
var version = "dev"

func main() {
	addr := envOr("ADDR", "127.0.0.1:3000")
	overseer.Run(overseer.Config{
		Program:          program,
		Address:          addr,
		Fetcher:          &fetcher.File{Path: envOr("WATCH", "example.next"), Interval: time.Second},
		TerminateTimeout: 10 * time.Second,
		Debug:            os.Getenv("DEBUG") != "",
	})
}

// program is the service. It runs in an overseer child process.
func program(state overseer.State) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprintf(w, "%s pid=%d id=%.12s\n", version, os.Getpid(), state.ID)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := graceful.Serve(srv, state.Listener, state.GracefulShutdown); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
