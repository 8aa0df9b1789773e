// Package app is the HTTP service that every benchmark variant serves.
//
// Every variant (jpillora/overseer, tableflip, our library two ways, and the
// plain net/http floor) wraps the same Handler, so the only difference the
// load driver sees is how the library restarts the process.
//
// The service is configured through the environment, because the overseer
// variants re-execute the binary as a child and environment variables are the
// one channel every library passes through unchanged:
//
//	BENCH_ADDR               listen address, for example 127.0.0.1:9000
//	BENCH_TOKEN              a per-round token echoed in every response
//	BENCH_TERMINATE_TIMEOUT  drain limit for the libraries (a Go duration)
//	BENCH_PIDFILE            where tableflip writes the current pid
//	BENCH_PUBLISH            the file the upgrade variant's fetcher watches
//	BENCH_DEBUG              "1" turns on library debug logging
package app

import (
	"os"
	"time"
)

// Version is set at link time (-ldflags "-X ...app.Version=v2") by the
// upgrade benchmark, so the driver can tell which build served a request.
var Version = "v1"

// Config is the service configuration read from the environment.
type Config struct {
	Addr             string
	Token            string
	TerminateTimeout time.Duration
	PIDFile          string
	Publish          string
	Debug            bool
}

// FromEnv reads Config from the BENCH_* environment variables. Missing values
// get defaults that are fine for running a variant by hand.
func FromEnv() Config {
	c := Config{
		Addr:             os.Getenv("BENCH_ADDR"),
		Token:            os.Getenv("BENCH_TOKEN"),
		TerminateTimeout: 5 * time.Second,
		PIDFile:          os.Getenv("BENCH_PIDFILE"),
		Publish:          os.Getenv("BENCH_PUBLISH"),
		Debug:            os.Getenv("BENCH_DEBUG") == "1",
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if d, err := time.ParseDuration(os.Getenv("BENCH_TERMINATE_TIMEOUT")); err == nil && d > 0 {
		c.TerminateTimeout = d
	}
	return c
}
