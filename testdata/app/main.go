// Command app is the service the integration tests run under overseer.
//
// Build-time variables pick a version and a misbehaviour; environment
// variables pick the configuration and the way it serves HTTP.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/graceful"
)

var (
	// version is reported in every response.
	version = "v1"
	// mode is a misbehaviour: "" (none), "crash" (the program exits 7 at
	// start), "noready" (never accepts), "failcheck" (exits 2 before Run),
	// "hangcheck" (blocks before Run), "noisy" (prints before Run),
	// "crashlater" (serves, then exits 3 after APP_CRASH_AFTER, default
	// 1s), "unhealthy" (serves, but /healthz answers 500), "masterpanic"
	// (panics at start-up as a master, including the dry run of a master
	// re-exec; its children and sanity checks are fine), "addrs" (listens
	// on APP_ADDR written differently, plus APP_SECOND_ADDR if set).
	mode = ""
)

func main() {
	if mark := os.Getenv("APP_EXEC_MARK"); mark != "" && os.Getenv("OVERSEER_BIN_CHECK") != "" {
		// Record that this binary was executed for a sanity check.
		if f, err := os.OpenFile(mark, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, version)
			f.Close()
		}
	}
	if mode == "masterpanic" && os.Getenv("OVERSEER_CHILD_ID") == "" && os.Getenv("OVERSEER_BIN_CHECK") == "" {
		panic("masterpanic: this binary cannot start as a master")
	}
	switch mode {
	case "failcheck":
		fmt.Fprintln(os.Stderr, "failcheck: refusing to start")
		os.Exit(2)
	case "hangcheck":
		time.Sleep(time.Hour)
	case "noisy":
		fmt.Println("noisy banner on stdout before Run")
		fmt.Fprintln(os.Stderr, "noisy banner on stderr before Run")
	}
	if path := os.Getenv("APP_MASTER_STATS"); path != "" && os.Getenv("OVERSEER_CHILD_ID") == "" {
		go writeStats(path)
	}
	cfg := overseer.Config{
		Program:             program,
		Address:             os.Getenv("APP_ADDR"),
		TerminateTimeout:    envDuration("APP_TERMINATE_TIMEOUT"),
		ReadyTimeout:        envDuration("APP_READY_TIMEOUT"),
		SanityCheckTimeout:  envDuration("APP_CHECK_TIMEOUT"),
		MinFetchInterval:    100 * time.Millisecond,
		Debug:               os.Getenv("APP_DEBUG") != "",
		NoRestart:           os.Getenv("APP_NO_RESTART") != "",
		NoRestartAfterFetch: os.Getenv("APP_NO_RESTART_AFTER_FETCH") != "",
		PublicKey:           os.Getenv("APP_PUBLIC_KEY"),
	}
	if d := envDuration("APP_PROBATION"); d != 0 {
		cfg.ProbationPeriod = d
	}
	if mode == "addrs" {
		cfg.Address = ""
		cfg.Addresses = []string{"tcp://" + os.Getenv("APP_ADDR")}
		if a := os.Getenv("APP_SECOND_ADDR"); a != "" {
			cfg.Addresses = append(cfg.Addresses, a)
		}
	}
	if os.Getenv("APP_REEXEC_SIGNAL") != "" {
		cfg.ReexecSignal = syscall.SIGWINCH
	}
	cfg.NoMasterReexec = os.Getenv("APP_NO_MASTER_REEXEC") != ""
	cfg.FDStore = os.Getenv("APP_FDSTORE") != ""
	if path := os.Getenv("APP_HEALTH_PATH"); path != "" {
		cfg.HealthCheck = &overseer.HealthCheck{Path: path, Interval: 200 * time.Millisecond, Timeout: time.Second, Failures: 3}
	}
	if n, err := strconv.ParseInt(os.Getenv("APP_MAX_BINARY_SIZE"), 10, 64); err == nil {
		cfg.MaxBinarySize = n
	}
	if os.Getenv("APP_CRASH_POLICY") != "" {
		cfg.CrashPolicy = &overseer.CrashPolicy{StartPeriod: 500 * time.Millisecond, MaxFailedStarts: 2, Backoff: 50 * time.Millisecond}
	}
	if path := os.Getenv("APP_EVENTS_FILE"); path != "" {
		cfg.OnEvent = func(e overseer.Event) {
			if f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "%s child=%d pid=%d code=%d time=%d err=%v\n", e.Kind, e.ChildID, e.PID, e.Code, e.Time.UnixMicro(), e.Err)
				f.Close()
			}
		}
	}
	if path := os.Getenv("APP_WATCH"); path != "" {
		cfg.Fetcher = &fetcher.File{Path: path, Interval: time.Second}
	}
	if url := os.Getenv("APP_URL"); url != "" {
		cfg.Fetcher = &fetcher.HTTP{URL: url, Interval: time.Second}
	}
	if url := os.Getenv("APP_MANIFEST_URL"); url != "" {
		// A fleet host: the release manifest at url decides, signed with
		// the same key as the binaries.
		cfg.Fetcher = &fetcher.Manifest{
			Source:    &fetcher.HTTP{URL: url, Interval: 250 * time.Millisecond},
			PublicKey: os.Getenv("APP_PUBLIC_KEY"),
			HostID:    os.Getenv("APP_HOST_ID"),
		}
	}
	if path := os.Getenv("APP_PRE_UPGRADE_MARK"); path != "" {
		cfg.PreUpgrade = func(string) error {
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("veto file %s exists", path)
			}
			return nil
		}
	}
	overseer.Run(cfg)
}

// program serves HTTP the way APP_SERVE says: "graceful" (graceful.Serve),
// "shutdown" (http.Server.Shutdown on GracefulShutdown), "plain"
// (http.Serve and nothing else), "fatal" (log.Fatal(http.Serve(...)): the
// process exits the moment Serve returns) or "fatalsrv" (srv.Serve, and
// log.Fatalf unless it returns http.ErrServerClosed).
func program(state overseer.State) {
	if mode == "crash" {
		os.Exit(7)
	}
	if mode == "noready" {
		<-state.GracefulShutdown
		return
	}
	if mode == "crashlater" {
		after := envDuration("APP_CRASH_AFTER")
		if after == 0 {
			after = time.Second
		}
		time.AfterFunc(after, func() { os.Exit(3) })
	}
	var hups atomic.Int64
	hupc := make(chan os.Signal, 4)
	signal.Notify(hupc, syscall.SIGHUP, syscall.SIGWINCH)
	go func() {
		for s := range hupc {
			if s == syscall.SIGHUP {
				hups.Add(1)
			} else {
				fmt.Fprintln(os.Stderr, "app: unexpected SIGWINCH forwarded")
				os.Exit(9)
			}
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprintf(w, "%s %d\n", version, os.Getpid())
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if mode == "unhealthy" {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		os.Exit(code)
	})
	mux.HandleFunc("/restart", func(w http.ResponseWriter, r *http.Request) {
		overseer.Restart()
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/orphan", func(w http.ResponseWriter, r *http.Request) {
		// The shell exits at once, leaving its sleep to be adopted by PID 1.
		_ = exec.Command("sh", "-c", "sleep 0.2 &").Run()
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s=%s\n", r.URL.Query().Get("key"), os.Getenv(r.URL.Query().Get("key")))
	})
	mux.HandleFunc("/hups", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, hups.Load())
	})
	mux.HandleFunc("/state", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "enabled=%t id=%s binpath=%s address=%s\n", state.Enabled, state.ID, state.BinPath, state.Address)
	})
	srv := &http.Server{Handler: mux}
	switch os.Getenv("APP_SERVE") {
	case "plain":
		_ = http.Serve(state.Listener, mux)
	case "fatal":
		log.Fatal(http.Serve(state.Listener, mux))
	case "fatalsrv":
		if err := srv.Serve(state.Listener); err != nil && err != http.ErrServerClosed {
			log.Fatalf("serve: %v", err)
		}
	case "shutdown":
		go func() {
			<-state.GracefulShutdown
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}()
		_ = srv.Serve(state.Listener)
	default:
		if err := graceful.Serve(srv, state.Listener, state.GracefulShutdown); err != nil {
			fmt.Fprintln(os.Stderr, "app: serve:", err)
			os.Exit(1)
		}
	}
}

// writeStats records the master's goroutine count for the tests.
func writeStats(path string) {
	for {
		tmp := path + ".tmp"
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		line := fmt.Sprintf("%d heapinuse=%d heapsys=%d sys=%d stacksys=%d objects=%d", runtime.NumGoroutine(), ms.HeapInuse, ms.HeapSys, ms.Sys, ms.StackSys, ms.HeapObjects)
		if err := os.WriteFile(tmp, []byte(line), 0o644); err == nil {
			_ = os.Rename(tmp, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func envDuration(key string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(key))
	return d
}
