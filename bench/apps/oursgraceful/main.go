// Command oursgraceful is the benchmark app on this repository's library with
// its recommended net/http helper, graceful.Serve, which drains the server
// when State.GracefulShutdown closes.
package main

import (
	"log"
	"net/http"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/bench/internal/app"
	"github.com/seed-710818af/overseer/graceful"
)

func main() {
	cfg := app.FromEnv()
	overseer.Run(overseer.Config{
		Program:          prog,
		Address:          cfg.Addr,
		TerminateTimeout: cfg.TerminateTimeout,
		Debug:            cfg.Debug,
	})
}

// prog runs in the child process and returns once every connection is done.
func prog(state overseer.State) {
	srv := &http.Server{Handler: app.Handler()}
	if err := graceful.Serve(srv, state.Listener, state.GracefulShutdown); err != nil {
		log.Printf("serve: %v", err)
	}
}
