package fetcher

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fetchSigned calls Fetch, asks for the signature as the master does, and
// reads the binary to its end; nil for "no update".
func fetchSigned(t *testing.T, f Interface) (bin, sig []byte) {
	t.Helper()
	r, err := f.Fetch()
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if r == nil {
		return nil, nil
	}
	defer r.(io.Closer).Close()
	sig, err = r.(Signed).Signature()
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	bin, err = io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return bin, sig
}

// TestHTTPNoticesCorrectedSignature: once the master asked for a
// signature, a new signature beside an unchanged binary offers the binary
// again; an unchanged pair costs no body, with validators (ETag,
// Last-Modified) or without (the signature's few bytes are compared).
func TestHTTPNoticesCorrectedSignature(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		sig  func(body []byte, n int) *testFile
	}{
		{"etag", func(b []byte, n int) *testFile { return &testFile{body: b, etag: `"s` + string(rune('0'+n)) + `"`} }},
		{"last-modified", func(b []byte, n int) *testFile {
			return &testFile{body: b, modTime: mod.Add(time.Duration(n) * time.Minute)}
		}},
		{"no validators", func(b []byte, n int) *testFile { return &testFile{body: b} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTestServer(t)
			bin := randomBytes(5000)
			wrong, right := testMinisig(), testMinisig()
			s.put("/app", &testFile{body: bin, etag: `"b1"`})
			s.put("/app.minisig", c.sig(wrong, 1))
			h := newHTTP(t, s, "/app")
			if got, sig := fetchSigned(t, h); string(got) != string(bin) || string(sig) != string(wrong) {
				t.Fatal("first fetch did not deliver the binary and its signature")
			}
			s.counts()
			if got, _ := fetchSigned(t, h); got != nil {
				t.Fatal("an unchanged binary and signature were offered again")
			}
			if req, body := s.counts(); req != 2 || (c.name != "no validators" && body != 0) {
				t.Errorf("unchanged poll: %d requests, %d body bytes; want 2 requests and no body", req, body)
			}
			s.put("/app.minisig", c.sig(right, 2))
			got, sig := fetchSigned(t, h)
			if string(got) != string(bin) || string(sig) != string(right) {
				t.Fatalf("a corrected signature beside the unchanged binary was not offered (%d bytes, sig %q)", len(got), sig)
			}
			if got, _ := fetchSigned(t, h); got != nil {
				t.Fatal("offered again after the corrected signature was read")
			}
		})
	}
}

// TestHTTPWithoutSignatureAsksOnce: a master that never asks for
// signatures (no public key) costs one request per poll, as before.
func TestHTTPWithoutSignatureAsksOnce(t *testing.T) {
	s := newTestServer(t)
	s.put("/app", &testFile{body: randomBytes(100), etag: `"b1"`})
	s.put("/app.minisig", &testFile{body: testMinisig(), etag: `"s1"`})
	h := newHTTP(t, s, "/app")
	mustFetch(t, h, s.files["/app"].body)
	s.counts()
	mustNotChange(t, h)
	if req, _ := s.counts(); req != 1 {
		t.Errorf("unchanged poll without signatures: %d requests, want 1", req)
	}
}

// TestRefuseMarksVersionSeen: after Refuse, the version is not offered
// again, by HTTP (one conditional request, no body) and File, until it
// changes.
func TestRefuseMarksVersionSeen(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		s := newTestServer(t)
		s.put("/app.gz", &testFile{body: randomBytes(3000), etag: `"big"`})
		h := newHTTP(t, s, "/app.gz")
		r, err := h.Fetch()
		if err != nil || r == nil {
			t.Fatalf("Fetch = %v, %v", r, err)
		}
		r.(Refusable).Refuse()
		r.(io.Closer).Close()
		s.counts()
		mustNotChange(t, h)
		if req, body := s.counts(); req != 1 || body != 0 {
			t.Errorf("poll after Refuse: %d requests, %d body bytes; want 1 and 0", req, body)
		}
		next := randomBytes(10)
		s.put("/app.gz", &testFile{body: next, etag: `"small"`})
		if r, err := h.Fetch(); err != nil || r == nil {
			t.Fatalf("a new version after a refused one was not offered: %v, %v", r, err)
		} else {
			r.(io.Closer).Close()
		}
	})
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app")
		f := &File{Path: path}
		if err := f.Init(); err != nil { // nothing there yet: a file at Init is the baseline
			t.Fatal(err)
		}
		f.Interval = 0
		if err := os.WriteFile(path, randomBytes(3000), 0o755); err != nil {
			t.Fatal(err)
		}
		r, err := f.Fetch()
		if err != nil || r == nil {
			t.Fatalf("Fetch = %v, %v", r, err)
		}
		r.(Refusable).Refuse()
		r.(io.Closer).Close()
		if r, _ := f.Fetch(); r != nil {
			t.Error("a refused version was offered again")
		}
	})
}

// TestFileNoticesCorrectedSignature: a new .minisig beside an unchanged
// file offers the file again.
func TestFileNoticesCorrectedSignature(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app")
	f := &File{Path: path}
	if err := f.Init(); err != nil { // nothing there yet: a file at Init is the baseline
		t.Fatal(err)
	}
	f.Interval = 0
	if err := os.WriteFile(path, []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".minisig", []byte("wrong"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, sig := fetchSigned(t, f); string(got) != "bin" || string(sig) != "wrong" {
		t.Fatalf("first fetch: %q %q", got, sig)
	}
	if got, _ := fetchSigned(t, f); got != nil {
		t.Fatal("unchanged file offered again")
	}
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(path+".minisig", []byte("right"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path+".minisig", later, later); err != nil {
		t.Fatal(err)
	}
	if got, sig := fetchSigned(t, f); string(got) != "bin" || string(sig) != "right" {
		t.Fatalf("corrected signature: %q %q", got, sig)
	}
}

// TestGithubNoticesReplacedSignature: a signature asset replaced in the
// release (a new asset id and upload time) beside the unchanged binary
// asset offers the binary again; the poll was needed anyway, as the
// release's ETag changed.
func TestGithubNoticesReplacedSignature(t *testing.T) {
	f := newGithubFake(t)
	bin, wrong, right := randomBytes(3000), testMinisig(), testMinisig()
	f.publish("v1", map[string][]byte{platformAsset: bin, platformAsset + ".minisig": wrong}, 0)
	g := newGithub(t, f)
	if got, sig := fetchSigned(t, g); string(got) != string(bin) || string(sig) != string(wrong) {
		t.Fatal("first fetch did not deliver the binary and its signature")
	}
	if got, _ := fetchSigned(t, g); got != nil {
		t.Fatal("unchanged release offered again")
	}
	// Replace the signature asset only, as deleting and uploading it does.
	f.mu.Lock()
	var rel map[string]any
	if err := json.Unmarshal(f.release, &rel); err != nil {
		t.Fatal(err)
	}
	for _, a := range rel["assets"].([]any) {
		asset := a.(map[string]any)
		if asset["name"] == platformAsset+".minisig" {
			asset["id"] = 9999
			asset["updated_at"] = time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
			f.put("/download/v1/"+platformAsset+".minisig", &testFile{body: right, etag: `"right"`})
		}
	}
	f.release, _ = json.Marshal(rel)
	f.etag = `"replaced-signature"`
	f.mu.Unlock()
	if got, sig := fetchSigned(t, g); string(got) != string(bin) || string(sig) != string(right) {
		t.Fatalf("a replaced signature beside the unchanged binary was not offered (%d bytes, sig %q)", len(got), sig)
	}
}
