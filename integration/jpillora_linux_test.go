package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMigrateJpilloraFleet runs a service built with jpillora/overseer
// v1.1.6 (./examples/jpillorav1) under its own, real master, publishes the
// same service rebuilt with this library (./examples/migrated) to the path
// the v1 master polls, and requires that the v1 master's sanity check
// passes, the new binary serves as the v1 master's child, survives a
// restart signal, and stops with the master; no request fails throughout.
func TestMigrateJpilloraFleet(t *testing.T) {
	v1, v2 := build(t, "jpillorav1"), build(t, "migrated")
	dir := t.TempDir()
	app, watch := filepath.Join(dir, "app"), filepath.Join(dir, "next")
	copyFile(t, v1, app)
	copyFile(t, v1, watch) // fetcher.File's baseline: nothing new yet

	s := start(t, app, "-addr", freeAddr(t), "-watch", watch)
	addr, pid := s.waitServing(20 * time.Second)
	url := "http://" + addr + "/"

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[string]bool{} // response bodies: "vN pid P"
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := client.Get(url)
				if err != nil {
					failed.Add(1)
					t.Logf("GET: %v", err)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					t.Logf("GET: %d %v", resp.StatusCode, err)
					continue
				}
				ok.Add(1)
				mu.Lock()
				seen[strings.TrimSpace(string(b))] = true
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(300 * time.Millisecond)

	// Publish: write beside the watched path, then rename onto it.
	copyFile(t, v2, watch+".tmp")
	if err := os.Rename(watch+".tmp", watch); err != nil {
		t.Fatal(err)
	}
	_, v2pid := s.waitServing(30 * time.Second)
	if _, done := waitExit(pid, 15*time.Second); !done {
		t.Fatalf("the v1 child %d still runs 15s after the upgrade", pid)
	}
	waitBody(t, &mu, seen, fmt.Sprintf("v2 pid %d", v2pid))

	// A restart signal to the v1 master: our child drains and tells the
	// v1 master (SIGUSR1), which starts the next child.
	next := s.restart()
	if _, done := waitExit(v2pid, 15*time.Second); !done {
		t.Fatalf("child %d still runs 15s after the restart signal", v2pid)
	}
	waitBody(t, &mu, seen, fmt.Sprintf("v2 pid %d", next))
	cancel()
	wg.Wait()

	// SIGTERM: the v1 master forwards it; our child drains and exits 0,
	// and so does the master.
	if err := s.stop(15 * time.Second); err != nil {
		t.Errorf("jpillora/overseer master exited with %v, want 0; stderr:\n%s", err, s.stderr.String())
	}
	if _, done := waitExit(next, 5*time.Second); !done {
		t.Errorf("child %d outlived its master", next)
	}
	t.Logf("jpillora/overseer v1.1.6 master → this library's child: %d requests, %d failed; served by %d processes", ok.Load()+failed.Load(), failed.Load(), len(seen))
	if failed.Load() != 0 {
		t.Errorf("%d requests failed, want none", failed.Load())
	}
}

// TestMigratedChildWithoutItsMaster kills the jpillora/overseer master
// after it has installed and started our binary: the child must notice
// that its master is gone and exit, as a v1 child does.
func TestMigratedChildWithoutItsMaster(t *testing.T) {
	v1, v2 := build(t, "jpillorav1"), build(t, "migrated")
	dir := t.TempDir()
	app, watch := filepath.Join(dir, "app"), filepath.Join(dir, "next")
	copyFile(t, v1, app)
	copyFile(t, v1, watch)
	s := start(t, app, "-addr", freeAddr(t), "-watch", watch)
	s.waitServing(20 * time.Second)
	copyFile(t, v2, watch+".tmp")
	if err := os.Rename(watch+".tmp", watch); err != nil {
		t.Fatal(err)
	}
	_, child := s.waitServing(30 * time.Second)
	// The master's stdout pipe stays open while the child runs, so
	// s.exited waits for the child too; check the child directly.
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	took, done := waitExit(child, 10*time.Second)
	if !done {
		t.Fatalf("child %d still running 10s after its jpillora/overseer master was killed", child)
	}
	t.Logf("child exited %s after its master was killed", took.Round(time.Millisecond))
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		t.Error("the killed master's output is still open 5s after its child exited")
	}
}

// waitBody waits for a response body to be seen.
func waitBody(t *testing.T, mu *sync.Mutex, seen map[string]bool, body string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got := seen[body]
		mu.Unlock()
		if got {
			return
		}
	}
	t.Fatalf("no response %q within 10s", body)
}

// copyFile copies an executable.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
