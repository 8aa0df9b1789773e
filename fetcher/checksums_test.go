package fetcher

import (
	"encoding/hex"
	"strings"
	"testing"
)

const (
	sumA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sumB = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
)

func TestParseChecksums(t *testing.T) {
	in := "# produced by goreleaser\n" +
		sumA + "  app_linux_amd64.gz\r\n" +
		strings.ToUpper(sumB) + " *app_darwin_arm64\n" +
		"\n" +
		"d41d8cd98f00b204e9800998ecf8427e  md5_is_ignored\n" +
		"SHA256 (dist/app_windows_amd64.exe) = " + sumA + "\n" +
		sumB + "\t./sub/app with spaces\n" +
		"garbage line\n" +
		sumA + "  app_linux_amd64.gz\n" // repeated, same digest
	got, err := parseChecksums([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"app_linux_amd64.gz":    sumA,
		"app_darwin_arm64":      sumB,
		"app_windows_amd64.exe": sumA,
		"app with spaces":       sumB,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}

	for _, bad := range []string{
		"",
		"<html>not found</html>",
		sumA + "  app\n" + sumB + "  app\n",
		strings.Repeat("x", maxChecksumsSize+1),
	} {
		if _, err := parseChecksums([]byte(bad)); err == nil {
			t.Errorf("parseChecksums(%.40q) succeeded", bad)
		}
	}
}

func TestIsChecksumsName(t *testing.T) {
	for name, want := range map[string]bool{
		"checksums.txt":              true,
		"myapp_1.2.3_checksums.txt":  true,
		"SHA256SUMS":                 true,
		"app_linux_amd64":            false,
		"checksums.txt.minisig":      false,
		"app_linux_amd64.gz.minisig": false,
	} {
		if isChecksumsName(name) != want {
			t.Errorf("isChecksumsName(%q) != %v", name, want)
		}
	}
}

func FuzzParseChecksums(f *testing.F) {
	f.Add([]byte(sumA + "  app_linux_amd64.gz\n" + sumB + " *app\n"))
	f.Add([]byte("SHA256 (app) = " + sumA + "\n"))
	f.Add([]byte("# comment\n\n" + sumA + "\t./a/b\r\n"))
	f.Add([]byte(sumA + "  ..\n" + sumA + "  /\n"))
	f.Add([]byte("SHA256 () = " + sumB))
	f.Fuzz(func(t *testing.T, b []byte) {
		sums, err := parseChecksums(b)
		if err != nil {
			return
		}
		if len(sums) == 0 {
			t.Fatal("no error and no entries")
		}
		for name, sum := range sums {
			if name == "" || strings.Contains(name, "/") {
				t.Fatalf("bad name %q", name)
			}
			if d, err := hex.DecodeString(sum); err != nil || len(d) != 32 || sum != strings.ToLower(sum) {
				t.Fatalf("bad digest %q for %q", sum, name)
			}
		}
	})
}
