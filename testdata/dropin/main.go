// Command dropin uses every identifier of jpillora/overseer v1.1.6's API,
// written exactly as for that library except for the import path. The
// tests build it: if it stops compiling, the drop-in promise is broken.
package main

import (
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/fetcher"
)

func main() {
	overseer.SanityCheck()
	var f fetcher.Interface = &fetcher.File{Path: "next", Interval: time.Second}
	_ = []fetcher.Interface{
		&fetcher.HTTP{URL: "http://127.0.0.1/app", Interval: time.Minute, CheckHeaders: []string{"ETag"}},
		&fetcher.Github{User: "u", Repo: "r", Interval: time.Minute, Asset: func(string) bool { return true }},
		&fetcher.S3{Access: "a", Secret: "s", Region: "r", Bucket: "b", Key: "k", Interval: time.Minute, HeadTimeout: time.Second, GetTimeout: time.Minute},
		fetcher.Func(func() (io.Reader, error) { return nil, nil }),
	}
	cfg := overseer.Config{
		Required:            false,
		Program:             prog,
		Address:             ":3000",
		RestartSignal:       overseer.SIGUSR2,
		TerminateTimeout:    30 * time.Second,
		MinFetchInterval:    time.Second,
		PreUpgrade:          func(tempBinaryPath string) error { return nil },
		Debug:               false,
		NoWarn:              false,
		NoRestart:           false,
		NoRestartAfterFetch: false,
		Fetcher:             f,
	}
	cfg.Addresses = nil
	_ = overseer.IsSupported()
	_ = []os.Signal{overseer.SIGUSR1, overseer.SIGUSR2, overseer.SIGTERM}
	if len(os.Args) > 1 && os.Args[1] == "err" {
		if err := overseer.RunErr(cfg); err != nil {
			log.Fatal(err)
		}
		return
	}
	overseer.Run(cfg)
}

func prog(state overseer.State) {
	var (
		_       bool      = state.Enabled
		_       string    = state.ID
		_       time.Time = state.StartedAt
		_       []string  = state.Addresses
		_       string    = state.Address
		_       string    = state.BinPath
		_       chan bool = state.GracefulShutdown
		_                 = state.Listeners
		_                 = overseer.DisabledState
		restart           = overseer.Restart
	)
	_ = restart
	http.Serve(state.Listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, state.ID)
	}))
}
