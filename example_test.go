package overseer_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/graceful"
)

// A service that upgrades itself from a file and drains net/http without
// client retries. (Examples that fork processes are compiled, not run.)
func ExampleRun() {
	overseer.Run(overseer.Config{
		Address: ":3000",
		Fetcher: &fetcher.File{Path: "/srv/app/next", Interval: 5 * time.Second},
		Program: func(state overseer.State) {
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "served by binary %.12s\n", state.ID)
			})}
			if err := graceful.Serve(srv, state.Listener, state.GracefulShutdown); err != nil {
				log.Fatal(err)
			}
		},
	})
}

// A program that must warm up before it takes traffic says when it is
// ready; until then the previous child keeps serving.
func ExampleState_Ready() {
	overseer.Run(overseer.Config{
		Address:      ":3000",
		ReadyTimeout: time.Minute,
		Program: func(state overseer.State) {
			cache := warmUp() // slow
			state.Ready()
			http.Serve(state.Listener, cache)
		},
	})
}

// The jpillora/overseer style: Shutdown on GracefulShutdown. No accepted
// request is dropped: the child lets every accepted connection's request be
// read before it closes GracefulShutdown.
func ExampleState_GracefulShutdown() {
	overseer.Run(overseer.Config{
		Address: ":3000",
		Program: func(state overseer.State) {
			srv := &http.Server{Handler: http.NotFoundHandler()}
			go func() {
				<-state.GracefulShutdown
				ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
			}()
			if err := srv.Serve(state.Listener); err != http.ErrServerClosed {
				log.Fatal(err)
			}
		},
	})
}

func warmUp() http.Handler { return http.NotFoundHandler() }
