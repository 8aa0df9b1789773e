package sockets

import (
	"os"
	"path/filepath"
	"testing"
)

// mustParse parses addrs or fails the test.
func mustParse(t *testing.T, addrs ...string) List {
	t.Helper()
	l, err := Parse(addrs)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestListen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ls, ps, err := Listen(mustParse(t, "127.0.0.1:0", "udp://127.0.0.1:0", "unix:"+sock))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
		for _, p := range ps {
			p.Close()
		}
	}()
	if len(ls) != 2 || len(ps) != 1 {
		t.Fatalf("got %d listeners and %d packet conns, want 2 and 1", len(ls), len(ps))
	}
	if ls[1].Addr().String() != sock {
		t.Errorf("unix listener at %s, want %s", ls[1].Addr(), sock)
	}
	moded := filepath.Join(t.TempDir(), "moded.sock")
	ls2, _, err := Listen(mustParse(t, "unix:"+moded+"?mode=0604"))
	if err != nil {
		t.Fatal(err)
	}
	defer ls2[0].Close()
	if fi, err := os.Stat(moded); err != nil || fi.Mode().Perm() != 0o604 {
		t.Errorf("socket file %v, %v; want mode 0604", fi, err)
	}
	if _, _, err := Listen(mustParse(t, "127.0.0.1:0", "unix:/nonexistent-dir/x.sock")); err == nil {
		t.Error("Listen succeeded on an impossible path")
	}
}
