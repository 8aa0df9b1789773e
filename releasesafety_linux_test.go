package overseer_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// releaseServer is a real HTTP server publishing files from a directory,
// counting requests and body bytes per path.
type releaseServer struct {
	t     *testing.T
	dir   string
	url   string
	body  atomic.Int64 // body bytes sent for the binary's path
	paths sync2        // requests per path
}

// sync2 counts requests per path.
type sync2 struct{ app, sig atomic.Int64 }

// newReleaseServer starts a file server for the release files of a test.
func newReleaseServer(t *testing.T) *releaseServer {
	t.Helper()
	rs := &releaseServer{t: t, dir: t.TempDir()}
	files := http.FileServer(http.Dir(rs.dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".minisig") {
			rs.paths.sig.Add(1)
			files.ServeHTTP(w, r)
			return
		}
		rs.paths.app.Add(1)
		files.ServeHTTP(countingWriter{w, &rs.body}, r)
	}))
	t.Cleanup(srv.Close)
	rs.url = srv.URL
	return rs
}

// put writes name atomically, with a modification time a second after the
// previous version's at least (HTTP dates have one-second resolution).
func (rs *releaseServer) put(name string, b []byte) {
	rs.t.Helper()
	path := filepath.Join(rs.dir, name)
	mtime := time.Now()
	if info, err := os.Stat(path); err == nil && !mtime.After(info.ModTime().Add(time.Second)) {
		mtime = info.ModTime().Add(2 * time.Second)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		rs.t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		rs.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		rs.t.Fatal(err)
	}
}

// variantBytes reads a built variant.
func variantBytes(t *testing.T, variant string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(binDir, variant))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishSig replaces only the signature beside the watched file, with a
// modification time that differs from the previous one.
func (s *service) publishSig(sig []byte) {
	s.t.Helper()
	path := filepath.Join(s.dir, "next.minisig")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, sig, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		s.t.Fatal(err)
	}
}

// stateFile reads the service's release state file.
func (s *service) stateFile() map[string]any {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(s.bin), ".app.overseer-state"))
	if err != nil {
		s.t.Fatalf("release state: %v", err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		s.t.Fatalf("release state: %v\n%s", err, b)
	}
	return st
}

// assertServing fails unless the service answers with version and the
// binary on disk is the variant want.
func (s *service) assertServing(version, want string) {
	s.t.Helper()
	if r := s.mustGet("/"); r.version != version {
		s.t.Errorf("serving %s, want %s", r.version, version)
	}
	if got := fileHash(s.t, s.bin); got != fileHash(s.t, filepath.Join(binDir, want)) {
		s.t.Errorf("binary on disk is not %s", want)
	}
}

// TestReplayedOlderReleaseIsRefused: with a public key, a validly signed
// release older than the installed one is refused (File and HTTP); the
// older binary signed again is accepted (a deliberate rollback).
func TestReplayedOlderReleaseIsRefused(t *testing.T) {
	key := newMinisignKey(t)
	sigV1 := key.sign(t, "v1")
	time.Sleep(1100 * time.Millisecond) // minisign timestamps are in seconds
	sigV2 := key.sign(t, "v2")

	check := func(t *testing.T, s *service, publish func(variant string, sig []byte)) {
		publish("v2", sigV2)
		s.waitServing("v2", 20*time.Second)
		if st := s.stateFile(); st["newest_signed"] == nil {
			t.Errorf("no newest_signed in the state after a signed install: %v", st)
		}
		publish("v1", sigV1)
		s.waitLog("not newer than the installed release", 20*time.Second)
		s.waitLog("sign the older binary again", time.Second)
		time.Sleep(300 * time.Millisecond)
		s.assertServing("v2", "v2")
		assertNoStagingFiles(t, s.dir)

		// Rolling back on purpose: v1 signed again, now.
		time.Sleep(1100 * time.Millisecond)
		publish("v1", key.sign(t, "v1"))
		s.waitServing("v1", 20*time.Second)
	}
	t.Run("file", func(t *testing.T) {
		s := startService(t, options{watch: true, env: []string{"APP_PUBLIC_KEY=" + key.public}})
		check(t, s, s.publishSigned)
	})
	t.Run("http", func(t *testing.T) {
		rs := newReleaseServer(t)
		s := startService(t, options{env: []string{"APP_PUBLIC_KEY=" + key.public, "APP_URL=" + rs.url + "/app"}})
		check(t, s, func(variant string, sig []byte) {
			rs.put("app.minisig", sig)
			rs.put("app", variantBytes(t, variant))
		})
	})
}

// TestRefusalSurvivesRestart: the newest signed time is durable; a master
// started again still refuses the older release.
func TestRefusalSurvivesRestart(t *testing.T) {
	key := newMinisignKey(t)
	sigV1 := key.sign(t, "v1")
	time.Sleep(1100 * time.Millisecond)
	sigV2 := key.sign(t, "v2")
	s := startService(t, options{watch: true, env: []string{"APP_PUBLIC_KEY=" + key.public, "APP_PROBATION=500ms"}})
	s.publishSigned("v2", sigV2)
	s.waitServing("v2", 20*time.Second)
	s.waitLog("release proven", 10*time.Second) // killed on probation, it would be rolled back
	s.kill()

	// The same directory, a fresh master, the older release on offer.
	s2 := s.restart(t)
	s2.publishSigned("v1", sigV1)
	s2.waitLog("not newer than the installed release", 20*time.Second)
	s2.assertServing("v2", "v2")
}

// TestInterruptedProbationRetriesTheSignedRelease: a master SIGKILLed
// while a signed release is on probation rolls it back when it starts
// again; the same release, offered again, is no downgrade and is
// installed (its probation is tried once more).
func TestInterruptedProbationRetriesTheSignedRelease(t *testing.T) {
	key := newMinisignKey(t)
	rs := newReleaseServer(t)
	s := startService(t, options{env: []string{"APP_PUBLIC_KEY=" + key.public, "APP_URL=" + rs.url + "/app", "APP_PROBATION=60s"}})
	rs.put("app.minisig", key.sign(t, "v2"))
	rs.put("app", variantBytes(t, "v2"))
	s.waitServing("v2", 20*time.Second)
	s.waitLog("release on probation", 10*time.Second)
	s.kill()
	s2 := s.restart(t)
	s2.waitLog("the master died during its probation", 10*time.Second)
	s2.waitServing("v2", 20*time.Second)
	if strings.Contains(s2.log(), "downgrade refused") {
		t.Error("the release rolled back at start was refused as a downgrade when offered again")
	}
}

// TestSignatureWithoutTimestampIsRefused: under a public key, a trusted
// comment without minisign's timestamp is refused before download.
func TestSignatureWithoutTimestampIsRefused(t *testing.T) {
	key := newMinisignKey(t)
	s := startService(t, options{watch: true, env: []string{"APP_PUBLIC_KEY=" + key.public}})
	s.publishSigned("v2", key.sign(t, "v2", "-t", "release v2"))
	s.waitLog("carries no timestamp", 20*time.Second)
	time.Sleep(2500 * time.Millisecond) // two more polls
	if n := strings.Count(s.log(), "carries no timestamp"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once", n)
	}
	s.assertServing("v1", "v1")
	assertNoStagingFiles(t, s.dir)
	s.publishSig(key.sign(t, "v2"))
	s.waitServing("v2", 20*time.Second)
}

// TestSignaturePublishedAfterTheBinary: a binary published before its
// signature is rejected once, then installed when the signature appears.
func TestSignaturePublishedAfterTheBinary(t *testing.T) {
	key := newMinisignKey(t)
	s := startService(t, options{watch: true, env: []string{"APP_PUBLIC_KEY=" + key.public}})
	s.publishSigned("v2", nil)
	s.waitLog("no signature was published", 20*time.Second)
	s.publishSig(key.sign(t, "v2"))
	s.waitServing("v2", 20*time.Second)
}

// TestCorrectedSignatureIsApplied: a binary published with a wrong
// signature is rejected; the right signature published beside the
// unchanged binary installs it (File and HTTP). Over HTTP, an unchanged
// release costs no body bytes, for the binary or the signature.
func TestCorrectedSignatureIsApplied(t *testing.T) {
	key := newMinisignKey(t)
	wrong := key.sign(t, "v3")
	right := key.sign(t, "v2")
	t.Run("file", func(t *testing.T) {
		s := startService(t, options{watch: true, env: []string{"APP_PUBLIC_KEY=" + key.public}})
		s.publishSigned("v2", wrong)
		s.waitLog("does not match the binary", 20*time.Second)
		s.assertServing("v1", "v1")
		s.publishSig(right)
		s.waitServing("v2", 20*time.Second)
	})
	t.Run("http", func(t *testing.T) {
		rs := newReleaseServer(t)
		rs.put("app.minisig", wrong)
		rs.put("app", variantBytes(t, "v2"))
		s := startService(t, options{env: []string{"APP_PUBLIC_KEY=" + key.public, "APP_URL=" + rs.url + "/app"}})
		s.waitLog("does not match the binary", 20*time.Second)
		time.Sleep(1500 * time.Millisecond)
		b0, a0, g0 := rs.body.Load(), rs.paths.app.Load(), rs.paths.sig.Load()
		time.Sleep(3 * time.Second)
		b1, a1, g1 := rs.body.Load(), rs.paths.app.Load(), rs.paths.sig.Load()
		t.Logf("rejected release, unchanged: %d binary requests, %d signature requests, %d binary body bytes in 3s", a1-a0, g1-g0, b1-b0)
		if b1 != b0 || a1 == a0 || g1 == g0 {
			t.Errorf("polling a rejected, unchanged release: %d body bytes, %d binary and %d signature requests in 3s; want 0 bytes and both polled", b1-b0, a1-a0, g1-g0)
		}
		if n := strings.Count(s.log(), "does not match the binary"); n != 1 {
			t.Errorf("the rejection was logged %d times, want once", n)
		}
		s.assertServing("v1", "v1")
		rs.put("app.minisig", right)
		s.waitServing("v2", 20*time.Second)
	})
}

// TestOversizedReleaseIsRefusedOnce: a release over MaxBinarySize, and a
// gzip file that expands past it, are refused once, logged once and not
// downloaded again; the service keeps serving and nothing is left on
// disk.
func TestOversizedReleaseIsRefusedOnce(t *testing.T) {
	v2 := variantBytes(t, "v2")
	limit := int64(len(v2) - 1)
	env := []string{"APP_MAX_BINARY_SIZE=" + strconv.FormatInt(limit, 10)}
	t.Run("file", func(t *testing.T) {
		s := startService(t, options{watch: true, env: env})
		s.publish("v2")
		s.waitLog("larger than MaxBinarySize", 20*time.Second)
		time.Sleep(3 * time.Second) // three polls
		if n := strings.Count(s.log(), "upgrade refused: the release is larger"); n != 1 {
			t.Errorf("refusal logged %d times, want once", n)
		}
		s.assertServing("v1", "v1")
		assertNoStagingFiles(t, s.dir)
	})
	t.Run("gzip-bomb", func(t *testing.T) {
		rs := newReleaseServer(t)
		var bomb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
		zeros := make([]byte, 1<<20)
		for range 4 * (limit>>20 + 1) {
			zw.Write(zeros)
		}
		zw.Close()
		rs.put("app.gz", bomb.Bytes())
		s := startService(t, options{env: append(env, "APP_URL="+rs.url+"/app.gz")})
		s.waitLog("larger than MaxBinarySize", 20*time.Second)
		time.Sleep(500 * time.Millisecond)
		b0 := rs.body.Load()
		time.Sleep(3 * time.Second)
		if n := strings.Count(s.log(), "upgrade refused: the release is larger"); n != 1 {
			t.Errorf("refusal logged %d times, want once", n)
		}
		if b := rs.body.Load() - b0; b != 0 {
			t.Errorf("the refused release was downloaded again: %d body bytes in 3s", b)
		}
		t.Logf("gzip bomb: %d compressed bytes expanding to %d, MaxBinarySize %d; %d body bytes sent before the refusal, 0 after", bomb.Len(), 4*(limit>>20+1)<<20, limit, b0)
		s.assertServing("v1", "v1")
		assertNoStagingFiles(t, s.dir)
	})
}

// TestNoRestartAfterFetchKeepsProvenBackup: with NoRestartAfterFetch, a
// second release installed before any restart replaces the first without
// making it the backup: .overseer-prev stays the proven binary. Probation
// is off here, so a release is proven once its child is ready.
func TestNoRestartAfterFetchKeepsProvenBackup(t *testing.T) {
	s := startService(t, options{watch: true, env: []string{"APP_NO_RESTART_AFTER_FETCH=1", "APP_PROBATION=-1s"}})
	v1 := fileHash(t, s.bin)
	backup := filepath.Join(s.dir, ".app.overseer-prev")
	s.publish("v2")
	s.waitLog("upgrade installed", 20*time.Second)
	s.publish("v3")
	s.waitLog("keeping the backup", 20*time.Second)
	waitFor(t, 10*time.Second, "v3 on disk", func() bool { return fileHash(t, s.bin) == fileHash(t, filepath.Join(binDir, "v3")) })
	if got := fileHash(t, backup); got != v1 {
		t.Errorf("backup is not v1, the binary that ran")
	}
	old := s.mustGet("/").pid
	if r := s.restartAndWait(old); r.version != "v3" {
		t.Fatalf("serving %s after the restart, want v3", r.version)
	}
	// v3 ran and is proven: the next install makes it the backup.
	s.publish("v2")
	waitFor(t, 20*time.Second, "v2 on disk", func() bool { return fileHash(t, s.bin) == fileHash(t, filepath.Join(binDir, "v2")) })
	if got := fileHash(t, backup); got != fileHash(t, filepath.Join(binDir, "v3")) {
		t.Errorf("backup is not v3 after v3 ran")
	}
}
