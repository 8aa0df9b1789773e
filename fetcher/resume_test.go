package fetcher

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFileResumeOffersWhatWasPublishedMeanwhile: a File that resumes from
// the checkpoint of the fetcher before it offers a version written in
// between, which a fresh Init would take as its baseline; and offers
// nothing when nothing changed.
func TestFileResumeOffersWhatWasPublishedMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app")
	write := func(content string, at time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	write("v1", base)
	old := &File{Path: path}
	if err := old.Init(); err != nil {
		t.Fatal(err)
	}
	checkpoint := old.Checkpoint()

	// Nothing changed: the resumed fetcher offers nothing.
	same := &File{Path: path}
	if err := same.Init(); err != nil {
		t.Fatal(err)
	}
	if err := same.Resume(checkpoint); err != nil {
		t.Fatal(err)
	}
	same.Interval = 0
	if r, err := same.Fetch(); err != nil || r != nil {
		t.Fatalf("resumed with nothing new: Fetch = %v, %v; want nothing", r, err)
	}

	// v2 published between the old image and the new one.
	write("v2!", base.Add(time.Minute))
	fresh := &File{Path: path}
	if err := fresh.Init(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Resume(checkpoint); err != nil {
		t.Fatal(err)
	}
	fresh.Interval = 0
	r, err := fresh.Fetch()
	if err != nil || r == nil {
		t.Fatalf("Fetch after Resume = %v, %v; want the version published meanwhile", r, err)
	}
	if c, ok := r.(interface{ Close() error }); ok {
		c.Close()
	}

	if err := fresh.Resume("not a checkpoint"); err == nil {
		t.Error("an unusable checkpoint was accepted")
	}
}
