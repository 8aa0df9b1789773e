// Command websocket is a WebSocket echo service that restarts without an
// abnormal close: when overseer asks it to drain, it closes every
// connection with status 1012 (service restart), and clients reconnect to
// the new process.
//
//	go run ./examples/websocket -addr 127.0.0.1:8080
//	kill -USR2 <master pid>   # restart; clients see 1012 and reconnect
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/graceful"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	terminate := flag.Duration("terminate", 30*time.Second, "overseer TerminateTimeout")
	flag.Parse()
	overseer.Run(overseer.Config{
		Address:          *addr,
		TerminateTimeout: *terminate,
		Program:          program,
		NoWarn:           true,
	})
}

// program serves /echo until the drain, then closes each WebSocket with
// 1012 and returns once they are all gone.
func program(state overseer.State) {
	var sockets sync.WaitGroup
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered the request
		}
		sockets.Add(1)
		defer sockets.Done()
		echo(c, state.GracefulShutdown)
	})
	fmt.Printf("serving %s pid %d\n", state.Listener.Addr(), os.Getpid())
	srv := &http.Server{Handler: mux}
	if err := graceful.Serve(srv, state.Listener, state.GracefulShutdown); err != nil {
		slog.Error("serve", "err", err)
	}
	// graceful.Serve does not track hijacked connections: wait for them.
	sockets.Wait()
}

// echo sends back each message it reads, until the peer closes or drain
// is closed; then it closes with StatusServiceRestart, which tells the
// client to reconnect (a WebSocket client would see 1006 if the process
// just exited).
func echo(c *websocket.Conn, drain <-chan bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		select {
		case <-drain:
			// Close waits (at most 5 seconds) for the client's close frame;
			// the read loop below sees the close and ends.
			_ = c.Close(websocket.StatusServiceRestart, "restarting")
		case <-done:
		}
	}()
	defer close(done)
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == -1 && !errors.Is(err, context.Canceled) {
				_ = c.CloseNow()
			}
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}
