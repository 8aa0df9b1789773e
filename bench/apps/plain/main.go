// Command plain is the benchmark app without any restart library: one
// process, net.Listen and http.Serve. It is the latency and memory floor and
// is never restarted; SIGTERM stops it the Go default way (immediately).
package main

import (
	"log"
	"net"
	"net/http"

	"github.com/seed-710818af/overseer/bench/internal/app"
)

func main() {
	cfg := app.FromEnv()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	log.Fatal(http.Serve(ln, app.Handler()))
}
