// Command oursupgrade is the graceful.Serve app plus a fetcher.File that
// watches BENCH_PUBLISH, used by the upgrade-latency benchmark (run.sh
// --upgrade). Its version is set at link time in app.Version.
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/bench/internal/app"
	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/graceful"
)

func main() {
	cfg := app.FromEnv()
	overseer.Run(overseer.Config{
		Program:          prog,
		Address:          cfg.Addr,
		TerminateTimeout: cfg.TerminateTimeout,
		Debug:            cfg.Debug,
		Fetcher:          &fetcher.File{Path: cfg.Publish, Interval: time.Second},
	})
}

// prog runs in the child process and returns once every connection is done.
func prog(state overseer.State) {
	srv := &http.Server{Handler: app.Handler()}
	if err := graceful.Serve(srv, state.Listener, state.GracefulShutdown); err != nil {
		log.Printf("serve: %v", err)
	}
}
