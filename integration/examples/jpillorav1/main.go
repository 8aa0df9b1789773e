// Command jpillorav1 is a service built with jpillora/overseer v1.1.6, as
// a fleet being migrated runs it: it serves HTTP and polls a file for a
// new binary (fetcher.File). Publishing a binary built with this library
// (see ../migrated) to that path moves it over; see the README's section
// on migrating a jpillora/overseer fleet.
//
//	go run ./examples/jpillorav1 -addr 127.0.0.1:8080 -watch /tmp/next-binary
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/jpillora/overseer"
	"github.com/jpillora/overseer/fetcher"
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

// program serves until jpillora/overseer releases the listener, then lets
// requests in flight finish before returning.
func program(state overseer.State) {
	pid := os.Getpid()
	fmt.Printf("serving %s pid %d\n", state.Listener.Addr(), pid)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "v1 pid %d\n", pid)
	})}
	go func() {
		<-state.GracefulShutdown
		srv.SetKeepAlivesEnabled(false)
	}()
	_ = srv.Serve(state.Listener)
	time.Sleep(500 * time.Millisecond)
}
