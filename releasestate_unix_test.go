//go:build unix

package overseer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReleaseStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".app.overseer-state")
	s, err := openReleaseStore(path)
	if err != nil {
		t.Fatal(err)
	}
	signed := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, err := range []error{
		s.quarantine("aaa", "sanity check failed"),
		s.beginProbation("bbb", "ccc"),
		s.beginProbation("bbb", "ccc"),
		s.acceptSigned(signed, "ddd"),
		s.acceptSigned(signed.Add(-time.Hour), "eee"), // older: ignored
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	again, err := openReleaseStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if why, ok := again.quarantined("aaa"); !ok || why != "sanity check failed" {
		t.Errorf("quarantined(aaa) = %q, %v after reopening", why, ok)
	}
	if p := again.probation(); p == nil || p.ID != "bbb" || p.PrevID != "ccc" || p.Attempts != 2 {
		t.Errorf("probation after reopening = %+v, want bbb replacing ccc, 2 attempts", p)
	}
	if got, id := again.newestSigned(); !got.Equal(signed) || id != "ddd" {
		t.Errorf("newest signed = %s (%s), want %s (ddd)", got, id, signed)
	}
	if err := again.endProbation(); err != nil {
		t.Fatal(err)
	}
	if third, _ := openReleaseStore(path); third.probation() != nil {
		t.Error("probation survived endProbation")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestReleaseStoreUnreadableIsSetAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".app.overseer-state")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := openReleaseStore(path)
	var setAside *stateSetAsideError
	if !errors.As(err, &setAside) || s == nil {
		t.Fatalf("open = %v, %v; want an empty store and a set-aside error", s, err)
	}
	if _, err := os.Stat(path + ".bad"); err != nil {
		t.Errorf("unreadable file not kept as .bad: %v", err)
	}
	if err := s.quarantine("x", "y"); err != nil {
		t.Fatalf("store unusable after setting the file aside: %v", err)
	}
}

func TestReleaseStoreRefusesNewerFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".app.overseer-state")
	if err := os.WriteFile(path, []byte(`{"version": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openReleaseStore(path); err == nil {
		t.Fatal("a state file of a newer format was accepted")
	}
	if b, _ := os.ReadFile(path); string(b) != `{"version": 99}` {
		t.Errorf("newer state file changed: %q", b)
	}
}

func TestReleaseStoreQuarantineIsBounded(t *testing.T) {
	s, err := openReleaseStore(filepath.Join(t.TempDir(), ".app.overseer-state"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxQuarantined + 10 {
		if err := s.quarantine(string(rune('a'+i%26))+time.Duration(i).String(), "bad"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.state.Quarantined); n != maxQuarantined {
		t.Errorf("%d quarantined, want at most %d", n, maxQuarantined)
	}
}
