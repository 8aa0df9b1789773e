package fetcher_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
)

// fetchFile runs one Fetch and returns what it offered ("" for nothing),
// reading at most limit bytes of it (-1: all) before closing it.
func fetchFile(t *testing.T, f *fetcher.File, limit int64) string {
	t.Helper()
	r, err := f.Fetch()
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if r == nil {
		return ""
	}
	defer r.(io.Closer).Close()
	if limit >= 0 {
		r = io.LimitReader(r, limit)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestFileOffersEachVersionUntilReadToTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app")
	f := &fetcher.File{Path: path}
	if err := f.Init(); err != nil {
		t.Fatal(err)
	}
	f.Interval = 0 // Init raised it to a second; keep the test quick

	if got := fetchFile(t, f, -1); got != "" {
		t.Fatalf("offered %q while the file is missing", got)
	}
	if err := os.WriteFile(path, []byte("version one"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Stopped early (a full disk, a missing signature): offered again.
	if got := fetchFile(t, f, 3); got != "ver" {
		t.Fatalf("first offer %q", got)
	}
	if got := fetchFile(t, f, -1); got != "version one" {
		t.Fatalf("a version not read to its end was not offered again: %q", got)
	}
	if got := fetchFile(t, f, -1); got != "" {
		t.Fatalf("a version read to its end was offered again: %q", got)
	}
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(path, []byte("version two"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if got := fetchFile(t, f, -1); got != "version two" {
		t.Fatalf("a new version was not offered: %q", got)
	}
}

// TestFileAtStartIsTheBaseline: a file already at Path when Init runs is
// not offered (a stale build there must not replace the binary that is
// starting); a change to it is.
func TestFileAtStartIsTheBaseline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(path, []byte("stale build"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fetcher.File{Path: path}
	if err := f.Init(); err != nil {
		t.Fatal(err)
	}
	f.Interval = 0
	for i := 0; i < 2; i++ {
		if got := fetchFile(t, f, -1); got != "" {
			t.Fatalf("offered the file present at start-up: %q", got)
		}
	}
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(path, []byte("new build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if got := fetchFile(t, f, -1); got != "new build" {
		t.Fatalf("a change after start-up was not offered: %q", got)
	}
}

func TestFileSignatureBesideTheBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app")
	f := &fetcher.File{Path: path}
	if err := f.Init(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := f.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch = %v, %v", r, err)
	}
	defer r.(io.Closer).Close()
	signed, ok := r.(fetcher.Signed)
	if !ok {
		t.Fatal("File's reader does not implement fetcher.Signed")
	}
	if sig, err := signed.Signature(); sig != nil || err != nil {
		t.Errorf("Signature without a .minisig = %q, %v; want nil, nil", sig, err)
	}
	if err := os.WriteFile(path+".minisig", []byte("sig"), 0o644); err != nil {
		t.Fatal(err)
	}
	if sig, err := signed.Signature(); string(sig) != "sig" || err != nil {
		t.Errorf("Signature = %q, %v; want the .minisig's content", sig, err)
	}
}
