//go:build unix

package overseer

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func idOf(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

func TestRecoverReleases(t *testing.T) {
	cases := []struct {
		name          string
		disk, backup  string
		probation     *probationRecord
		wantDisk      string
		wantResumed   bool
		wantQuarantin bool
		wantRecord    bool
	}{
		{name: "no probation: nothing to do", disk: "v2", backup: "v1", wantDisk: "v2"},
		{name: "master died during probation: rolled back, tried again later",
			disk: "v2", backup: "v1", probation: &probationRecord{ID: idOf("v2"), PrevID: idOf("v1"), Attempts: 1},
			wantDisk: "v1"},
		{name: "master died during a second probation: rolled back and quarantined",
			disk: "v2", backup: "v1", probation: &probationRecord{ID: idOf("v2"), PrevID: idOf("v1"), Attempts: 2},
			wantDisk: "v1", wantQuarantin: true},
		{name: "clean stop during probation: probation resumes",
			disk: "v2", backup: "v1", probation: &probationRecord{ID: idOf("v2"), PrevID: idOf("v1"), Attempts: 1, Suspended: true},
			wantDisk: "v2", wantResumed: true, wantRecord: true},
		{name: "binary replaced by hand since: taken as it is",
			disk: "v9", backup: "v1", probation: &probationRecord{ID: idOf("v2"), PrevID: idOf("v1"), Attempts: 1},
			wantDisk: "v9"},
		{name: "backup is not the proven binary: the release stays, on probation",
			disk: "v2", backup: "v0", probation: &probationRecord{ID: idOf("v2"), PrevID: idOf("v1"), Attempts: 1},
			wantDisk: "v2", wantResumed: true, wantRecord: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app")
			write := func(p, s string) {
				if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write(path, tc.disk)
			write(filepath.Join(dir, ".app.overseer-prev"), tc.backup)
			write(filepath.Join(dir, ".app.overseer-new-123"), "half a download")
			if tc.probation != nil {
				s, err := openReleaseStore(filepath.Join(dir, ".app.overseer-state"))
				if err != nil {
					t.Fatal(err)
				}
				p := *tc.probation
				if err := s.update(func(st *releaseState) { st.Probation = &p }); err != nil {
					t.Fatal(err)
				}
			}
			b, err := openBinary(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			resumed := b.recoverReleases()
			if got, _ := os.ReadFile(path); string(got) != tc.wantDisk || b.currentID() != idOf(tc.wantDisk) {
				t.Errorf("binary on disk %q (id %s), want %q", got, short(b.currentID()), tc.wantDisk)
			}
			if (resumed != nil) != tc.wantResumed {
				t.Errorf("resumed = %v, want %v", resumed, tc.wantResumed)
			}
			if _, q := b.releases.quarantined(idOf("v2")); q != tc.wantQuarantin {
				t.Errorf("v2 quarantined = %v, want %v", q, tc.wantQuarantin)
			}
			again, err := openReleaseStore(b.releases.path)
			if err != nil {
				t.Fatal(err)
			}
			if p := again.probation(); (p != nil) != tc.wantRecord || (p != nil && p.Suspended) {
				t.Errorf("probation record after recovery = %+v, want present=%v and not suspended", p, tc.wantRecord)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".app.overseer-new-*")); len(left) > 0 {
				t.Errorf("staging files left: %v", left)
			}
		})
	}
}
