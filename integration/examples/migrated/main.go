// Command migrated is ../jpillorav1 rebuilt with this library: the same
// configuration, with the import path changed. Published to the path a
// jpillora/overseer master polls, it passes that master's sanity check
// and runs as its child; at the next full restart of the service it
// becomes this library's master.
//
//	go build -o /tmp/next-binary ./examples/migrated
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/graceful"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	watch := flag.String("watch", "", "path polled for a new binary")
	flag.Parse()
	overseer.Run(overseer.Config{
		Address: *addr,
		Program: program,
		Fetcher: &fetcher.File{Path: *watch, Interval: time.Second},
		NoWarn:  true,
	})
}

// program serves until the drain.
func program(state overseer.State) {
	pid := os.Getpid()
	fmt.Printf("serving %s pid %d\n", state.Listener.Addr(), pid)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "v2 pid %d\n", pid)
	})}
	if err := graceful.Serve(srv, state.Listener, state.GracefulShutdown); err != nil {
		slog.Error("serve", "err", err)
	}
}
