//go:build unix

package overseer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
)

// failingReader returns some bytes, then err.
type failingReader struct {
	head []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	return 0, r.err
}

// TestFetchOnceFailures: how one fetch that ends in an error is reported.
// A binary replaced during its download (fetcher.ErrReplaced) is a publish
// in progress: logged at INFO, no upgrade-rejected event, and no pause
// before the next fetch. A download that breaks is an error, an event and
// a pause.
func TestFetchOnceFailures(t *testing.T) {
	replaced := fmt.Errorf("fetcher.S3: s3://b/app: get: %w (a new version was published meanwhile)", fetcher.ErrReplaced)
	for _, tc := range []struct {
		name       string
		fetch      func() (io.Reader, error)
		wantLog    string
		wantFailed bool
		wantEvent  bool
	}{
		{"replaced during the download",
			func() (io.Reader, error) { return &failingReader{head: []byte("partial"), err: replaced}, nil },
			"level=INFO msg=\"the published binary was replaced during its download", false, false},
		{"replaced before the download (the manifest's own read)",
			func() (io.Reader, error) { return nil, fmt.Errorf("fetcher.Manifest: read the manifest: %w", replaced) },
			"level=INFO msg=\"the published binary was replaced during its download", false, false},
		{"download broken",
			func() (io.Reader, error) {
				return &failingReader{head: []byte("partial"), err: errors.New("connection reset by peer")}, nil
			},
			"level=ERROR msg=\"upgrade not applied: download failed", true, true},
		{"fetch failed",
			func() (io.Reader, error) { return nil, errors.New("dial tcp: connection refused") },
			"level=WARN msg=\"fetch failed; will retry\"", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			events := make(chan Event, 8)
			c := &Config{Fetcher: fetcher.Func(tc.fetch), MaxBinarySize: 1 << 20}
			p, err := newFetchPipeline(c, log, newEventSink(func(e Event) { events <- e }, log), newTestBinary(t, "v1"))
			if err != nil {
				t.Fatal(err)
			}
			staged, failed := p.fetchOnce()
			if staged != nil {
				t.Fatal("a failed fetch staged a binary")
			}
			if failed != tc.wantFailed {
				t.Errorf("failed = %v, want %v", failed, tc.wantFailed)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log %q, want %q", logs.String(), tc.wantLog)
			}
			p.sink.flush(5 * time.Second)
			select {
			case e := <-events:
				if !tc.wantEvent {
					t.Errorf("event %s: %v", e.Kind, e.Err)
				}
			default:
				if tc.wantEvent {
					t.Error("no upgrade-rejected event")
				}
			}
			p.abandon()
		})
	}
}
