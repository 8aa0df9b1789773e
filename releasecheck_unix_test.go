//go:build unix

package overseer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"aead.dev/minisign"
)

func TestCommentTimestamp(t *testing.T) {
	cases := []struct {
		comment string
		want    int64 // unix seconds; 0: none
	}{
		{"timestamp:1764979200\tfile:app\thashed", 1764979200},
		{"timestamp:1764979200", 1764979200},
		{"release v2 timestamp:1764979200", 1764979200},
		{"release v2", 0},
		{"timestamp:", 0},
		{"timestamp:-5\tfile:app", 0},
		{"timestamp:12ab", 0},
		{"mytimestamp:1764979200", 0},
	}
	for _, c := range cases {
		got, ok := commentTimestamp(c.comment)
		if ok != (c.want != 0) || (ok && got.Unix() != c.want) {
			t.Errorf("commentTimestamp(%q) = %v, %v; want %d", c.comment, got, ok, c.want)
		}
	}
}

func TestCheckNewer(t *testing.T) {
	installed := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		newest    time.Time // zero: no state yet
		signedAt  time.Time // zero: no public key
		binID     string    // the fetched release's binary; the newest is "v2"
		downgrade bool
	}{
		{"no key", installed, time.Time{}, "v3", false},
		{"first after a manual deploy", time.Time{}, installed.Add(-time.Hour), "v3", false},
		{"newer", installed, installed.Add(time.Second), "v3", false},
		{"same second, another binary", installed, installed, "v3", true},
		{"older", installed, installed.Add(-24 * time.Hour), "v1", true},
		// Rolled back after its probation was cut short, the newest release
		// is offered again: the same release is no downgrade.
		{"the newest release itself again", installed, installed, "v2", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store, err := openReleaseStore(filepath.Join(t.TempDir(), ".app.overseer-state"))
			if err != nil {
				t.Fatal(err)
			}
			if !c.newest.IsZero() {
				if err := store.acceptSigned(c.newest, "v2"); err != nil {
					t.Fatal(err)
				}
			}
			p := &fetchPipeline{bin: &binary{releases: store}}
			err = p.checkNewer(c.signedAt, c.binID)
			if got := errors.Is(err, errDowngrade); got != c.downgrade {
				t.Errorf("checkNewer = %v, want downgrade %v", err, c.downgrade)
			}
		})
	}
}

// newTestBinary writes content as dir/app and opens it as the running
// binary.
func newTestBinary(t *testing.T, content string) *binary {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := openBinary(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stageTest stages content beside b as the fetch pipeline would.
func stageTest(t *testing.T, b *binary, content string) *stagedBinary {
	t.Helper()
	f, err := os.CreateTemp(b.dir, b.pattern)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(content)
	f.Chmod(0o700)
	f.Close()
	sum := sha256.Sum256([]byte(content))
	return &stagedBinary{path: f.Name(), id: hex.EncodeToString(sum[:])}
}

func readTest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInstallKeepsProvenBackup: the backup is refreshed only from a binary
// that was proven; a binary installed and never proven (the loop passes it
// as unproven) is replaced without becoming the backup, and restore puts
// the proven one back.
func TestInstallKeepsProvenBackup(t *testing.T) {
	b := newTestBinary(t, "v1")
	v2, err := b.install(stageTest(t, b, "v2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readTest(t, b.backup); got != "v1" {
		t.Fatalf("backup after the first install = %q, want v1", got)
	}
	inst, err := b.install(stageTest(t, b, "v3"), v2) // v2 never proven
	if err != nil {
		t.Fatal(err)
	}
	if got := readTest(t, b.backup); got != "v1" {
		t.Errorf("backup after installing over an unproven binary = %q, want v1", got)
	}
	if err := b.restore(inst); err != nil {
		t.Fatal(err)
	}
	if got := readTest(t, b.path); got != "v1" || b.currentID() != inst.prevID {
		t.Errorf("restored %q (id %s), want v1 (id %s)", got, short(b.currentID()), short(inst.prevID))
	}
	// v2 again, proven this time: it becomes the backup of the next one.
	if _, err := b.install(stageTest(t, b, "v2"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.install(stageTest(t, b, "v4"), nil); err != nil {
		t.Fatal(err)
	}
	if got := readTest(t, b.backup); got != "v2" {
		t.Errorf("backup after installing over a proven binary = %q, want v2", got)
	}
}

// TestInstallKeepsOwnerAndMode: the new binary gets the running binary's
// owner, group and setuid/setgid bits (as root), and the signed time of
// the release is recorded only when it is installed.
func TestInstallKeepsOwnerAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file another owner")
	}
	b := newTestBinary(t, "v1")
	const uid, gid = 65534, 65533
	if err := os.Chown(b.path, uid, gid); err != nil {
		t.Fatal(err)
	}
	want := os.FileMode(0o750) | os.ModeSetuid | os.ModeSetgid
	if err := os.Chmod(b.path, want); err != nil {
		t.Fatal(err)
	}
	s := stageTest(t, b, "v2")
	s.signedAt = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if t0, _ := b.releases.newestSigned(); !t0.IsZero() {
		t.Fatal("signed time recorded before the install")
	}
	if _, err := b.install(s, nil); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(b.path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	if got := info.Mode() & keptModeBits; got != want || st.Uid != uid || st.Gid != gid {
		t.Errorf("installed binary: mode %v owner %d:%d, want %v %d:%d", got, st.Uid, st.Gid, want, uid, gid)
	}
	if got, id := b.releases.newestSigned(); !got.Equal(s.signedAt) || id != s.id {
		t.Errorf("newest signed after the install = %v, want %v", got, s.signedAt)
	}
}

// BenchmarkSignedTime measures what authenticating the trusted comment and
// reading its timestamp adds to each verified release.
func BenchmarkSignedTime(b *testing.B) {
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	raw := minisign.NewReader(strings.NewReader("binary")).SignWithComments(priv, "timestamp:1764979200\tfile:app\thashed", "")
	var sig minisign.Signature
	if err := sig.UnmarshalText(raw); err != nil {
		b.Fatal(err)
	}
	v := &verifier{key: pub}
	for range b.N {
		if _, err := v.signedTime(sig); err != nil {
			b.Fatal(err)
		}
	}
}

// checksummedReader is a fetched binary whose source published a digest.
type checksummedReader struct {
	io.Reader
	sum string
}

func (c checksummedReader) SHA256() (string, error) { return c.sum, nil }

// TestWrongDigestQuarantinesTheReleaseNotTheBinary: a genuine binary
// published with a wrong checksum (a manifest with a bad digest) fails
// verification and is quarantined with that digest; the same binary with
// the right digest is another release and is not refused.
func TestWrongDigestQuarantinesTheReleaseNotTheBinary(t *testing.T) {
	store, err := openReleaseStore(filepath.Join(t.TempDir(), ".app.overseer-state"))
	if err != nil {
		t.Fatal(err)
	}
	p := &fetchPipeline{bin: &binary{releases: store}}
	bin := idOf("genuine")
	var v *verifier // no public key: the checksum alone
	bad, err := v.expect(checksummedReader{strings.NewReader("genuine"), strings.Repeat("0", 64)})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.check(bin); !errors.Is(err, errRejected) {
		t.Fatalf("check with a wrong digest = %v, want a rejection", err)
	}
	if err := store.quarantine(bad.releaseID(bin), "verification failed"); err != nil {
		t.Fatal(err)
	}
	good, err := v.expect(checksummedReader{strings.NewReader("genuine"), bin})
	if err != nil {
		t.Fatal(err)
	}
	if err := good.check(bin); err != nil {
		t.Fatalf("check with the right digest: %v", err)
	}
	if why, q := p.quarantined(bin, good.releaseID(bin)); q {
		t.Errorf("the genuine binary with the right digest is quarantined (%s)", why)
	}
}
