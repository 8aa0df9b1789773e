// Command sockapp is the service the socket-kind tests run under overseer:
// HTTP on every stream listener and a datagram echo on every packet conn.
//
// APP_ADDR is the first address (HTTP on TCP, for the harness) and
// APP_EXTRA a comma-separated list of more Config.Addresses entries.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/graceful"
)

func main() {
	addrs := []string{os.Getenv("APP_ADDR")}
	if extra := os.Getenv("APP_EXTRA"); extra != "" {
		addrs = append(addrs, strings.Split(extra, ",")...)
	}
	timeout, _ := time.ParseDuration(os.Getenv("APP_TERMINATE_TIMEOUT"))
	overseer.Run(overseer.Config{
		Program:          program,
		Addresses:        addrs,
		TerminateTimeout: timeout,
		Debug:            os.Getenv("APP_DEBUG") != "",
		Required:         true,
	})
}

// program serves until GracefulShutdown.
func program(state overseer.State) {
	pid := os.Getpid()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "vsock %d\n", pid)
	})
	// /env reports the socket activation variables this process sees.
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			if v, ok := os.LookupEnv(k); ok {
				fmt.Fprintf(w, "%s=%s\n", k, v)
			}
		}
	})
	// /addrs lists the bound addresses, listeners then packet conns.
	mux.HandleFunc("/addrs", func(w http.ResponseWriter, r *http.Request) {
		for _, l := range state.Listeners {
			fmt.Fprintf(w, "%s %s\n", l.Addr().Network(), l.Addr())
		}
		for _, p := range state.PacketConns {
			fmt.Fprintf(w, "%s %s\n", p.LocalAddr().Network(), p.LocalAddr())
		}
	})
	var wg sync.WaitGroup
	for _, l := range state.Listeners {
		wg.Add(1)
		go func(l net.Listener) {
			defer wg.Done()
			_ = graceful.Serve(&http.Server{Handler: mux}, l, state.GracefulShutdown)
		}(l)
	}
	for _, p := range state.PacketConns {
		wg.Add(1)
		go func(p net.PacketConn) {
			defer wg.Done()
			echo(p, pid, state.GracefulShutdown)
		}(p)
	}
	wg.Wait()
}

// echo answers every datagram with "<pid> <payload>" until shutdown, the
// contract State.PacketConns documents: stop reading on GracefulShutdown,
// answer what was read, return.
func echo(p net.PacketConn, pid int, shutdown <-chan bool) {
	go func() {
		<-shutdown
		_ = p.SetReadDeadline(time.Now())
	}()
	buf := make([]byte, 2048)
	for {
		n, from, err := p.ReadFrom(buf)
		if err != nil {
			p.Close()
			return
		}
		_, _ = p.WriteTo([]byte(fmt.Sprintf("%d %s", pid, buf[:n])), from)
	}
}
