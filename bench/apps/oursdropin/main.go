// Command jpillora is the benchmark app on an overseer-style library, written
// exactly as the overseer README shows (http.Serve on State.Listener).
//
// This file is also the source of apps/oursdropin/main.go: run.sh copies it
// there with only the import path changed, so both builds run the same code.
package main

import (
	"log"
	"net/http"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/bench/internal/app"
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

// prog runs in the child process and serves until its listener is closed.
func prog(state overseer.State) {
	if err := http.Serve(state.Listener, app.Handler()); err != nil {
		log.Printf("serve: %v", err)
	}
}
