package remote

import (
	"encoding/base64"
	"strings"
	"testing"
)

func validMinisig() string {
	sig := "ED" + strings.Repeat("k", 8) + strings.Repeat("s", 64)
	return "untrusted comment: signature from minisign secret key\n" +
		base64.StdEncoding.EncodeToString([]byte(sig)) + "\n" +
		"trusted comment: timestamp:1700000000\tfile:app\n" +
		base64.StdEncoding.EncodeToString([]byte(strings.Repeat("g", 64))) + "\n"
}

func TestCheckMinisig(t *testing.T) {
	good := validMinisig()
	lines := strings.Split(strings.TrimSpace(good), "\n")
	legacy := strings.Replace(good, lines[1], base64.StdEncoding.EncodeToString([]byte("Ed"+strings.Repeat("x", 72))), 1)
	for _, ok := range []string{good, strings.ReplaceAll(good, "\n", "\r\n"), strings.TrimSuffix(good, "\n"), legacy} {
		if err := CheckMinisig([]byte(ok)); err != nil {
			t.Errorf("CheckMinisig(%q) = %v", ok, err)
		}
	}
	bad := []string{
		"",
		"<html>404</html>",
		strings.Join(lines[:2], "\n"),
		strings.Replace(good, "untrusted comment:", "comment:", 1),
		strings.Replace(good, lines[1], "not base64!", 1),
		strings.Replace(good, lines[1], base64.StdEncoding.EncodeToString([]byte("ED short")), 1),
		strings.Replace(good, lines[1], base64.StdEncoding.EncodeToString([]byte("XX"+strings.Repeat("x", 72))), 1),
		strings.Replace(good, "trusted comment:", "trusted:", 1),
		strings.Replace(good, lines[3], "AAAA", 1),
		good + "extra line\n",
		good + strings.Repeat("x", MaxSignatureSize),
	}
	for _, b := range bad {
		if err := CheckMinisig([]byte(b)); err == nil {
			t.Errorf("CheckMinisig(%q) accepted a malformed signature", b)
		}
	}
}

func FuzzCheckMinisig(f *testing.F) {
	f.Add([]byte(validMinisig()))
	f.Add([]byte("untrusted comment: x\nAAAA\ntrusted comment: y\nAAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckMinisig(b) == nil {
			// Whatever is accepted has the four-line shape.
			if !strings.HasPrefix(string(b), "untrusted comment:") {
				t.Fatalf("accepted %q", b)
			}
		}
	})
}
