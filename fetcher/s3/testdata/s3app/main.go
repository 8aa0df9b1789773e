// Command s3app is a service upgraded from S3 by overseer, for the
// end-to-end tests of package s3: it answers every HTTP request with its
// version and process ID. The version is set at build time with
// -ldflags "-X main.version=...".
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/fetcher"
	_ "github.com/seed-710818af/overseer/fetcher/s3"
)

var version = "dev"

func main() {
	overseer.Run(overseer.Config{
		Program:          program,
		Address:          os.Getenv("APP_ADDR"),
		PublicKey:        os.Getenv("APP_PUBLIC_KEY"),
		MinFetchInterval: 100 * time.Millisecond,
		Debug:            true,
		Fetcher: &fetcher.S3{
			Access: os.Getenv("APP_S3_ACCESS"), Secret: os.Getenv("APP_S3_SECRET"), Region: "us-east-1",
			Endpoint: os.Getenv("APP_S3_ENDPOINT"), UsePathStyle: true,
			Bucket: os.Getenv("APP_S3_BUCKET"), Key: os.Getenv("APP_S3_KEY"),
			Interval: time.Second,
		},
	})
}

func program(state overseer.State) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %d\n", version, os.Getpid())
	})}
	go func() {
		<-state.GracefulShutdown
		srv.Close()
	}()
	srv.Serve(state.Listener)
}
