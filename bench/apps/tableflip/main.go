// Command tableflip is the benchmark app on github.com/cloudflare/tableflip,
// following the library's own net/http example: upg.Listen, upg.Ready,
// <-upg.Exit(), srv.Shutdown, an upgrade on SIGHUP and a pid file so the
// driver can find the current process.
//
// Unlike the example it also stops on SIGTERM/SIGINT (upg.Stop, then the same
// drain), so "exit on SIGTERM" measures a graceful stop, as for the others.
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/seed-710818af/overseer/bench/internal/app"
)

func main() {
	cfg := app.FromEnv()
	upg, err := tableflip.New(tableflip.Options{PIDFile: cfg.PIDFile})
	if err != nil {
		log.Fatalf("tableflip: %v", err)
	}
	defer upg.Stop()

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
		for s := range sig {
			if s != syscall.SIGHUP {
				upg.Stop()
				return
			}
			if err := upg.Upgrade(); err != nil {
				log.Printf("upgrade failed: %v", err)
			}
		}
	}()

	ln, err := upg.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: app.Handler()}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Printf("serve: %v", err)
		}
	}()
	if err := upg.Ready(); err != nil {
		log.Fatalf("ready: %v", err)
	}
	<-upg.Exit()

	time.AfterFunc(cfg.TerminateTimeout, func() {
		log.Printf("graceful shutdown timed out")
		os.Exit(1)
	})
	_ = srv.Shutdown(context.Background())
}
