package graceful_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/seed-710818af/overseer/graceful"
)

// Serve an HTTP server until told to drain; the drain answers every
// request already on its way and makes no client retry.
func ExampleServe() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})}
	drain := make(chan bool)
	done := make(chan error, 1)
	go func() { done <- graceful.Serve(srv, l, drain) }()

	resp, err := http.Get("http://" + l.Addr().String() + "/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)

	close(drain) // with overseer: state.GracefulShutdown
	fmt.Println("drained:", <-done)
	// Output:
	// 200 OK
	// drained: <nil>
}

// Track the connections of any server, then shut down at request
// boundaries.
func ExampleListener() {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l := graceful.NewListener(inner)
	go http.Serve(l, http.NotFoundHandler())

	resp, err := http.Get("http://" + l.Addr().String() + "/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", l.Shutdown(ctx), "open:", l.Active())
	// Output:
	// shutdown: <nil> open: 0
}
