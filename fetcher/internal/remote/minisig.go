package remote

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// MaxSignatureSize bounds the size of a .minisig file. Real ones are about
// 300 bytes; comments can make them longer, but not this long.
const MaxSignatureSize = 64 << 10

// CheckMinisig reports whether b has the shape of a minisign signature file:
//
//	untrusted comment: <text>
//	<base64 of algorithm (2 bytes: "Ed" or "ED"), key id (8), signature (64)>
//	trusted comment: <text>
//	<base64 of the global signature (64 bytes)>
//
// It does not verify anything cryptographically; it only rejects files that
// no verifier could accept (an HTML error page, a truncated download).
func CheckMinisig(b []byte) error {
	if len(b) > MaxSignatureSize {
		return fmt.Errorf("malformed minisign signature: larger than %d bytes", MaxSignatureSize)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\r\n"), []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	if len(lines) != 4 {
		return fmt.Errorf("malformed minisign signature: %d lines, want 4", len(lines))
	}
	if !bytes.HasPrefix(lines[0], []byte("untrusted comment:")) {
		return errors.New("malformed minisign signature: line 1 is not an untrusted comment")
	}
	sig, err := base64.StdEncoding.DecodeString(string(lines[1]))
	if err != nil || len(sig) != 74 {
		return errors.New("malformed minisign signature: line 2 is not a base64 signature of 74 bytes")
	}
	if alg := string(sig[:2]); alg != "Ed" && alg != "ED" {
		return fmt.Errorf("malformed minisign signature: unknown algorithm %q", alg)
	}
	if !bytes.HasPrefix(lines[2], []byte("trusted comment:")) {
		return errors.New("malformed minisign signature: line 3 is not a trusted comment")
	}
	global, err := base64.StdEncoding.DecodeString(string(lines[3]))
	if err != nil || len(global) != 64 {
		return errors.New("malformed minisign signature: line 4 is not a base64 signature of 64 bytes")
	}
	return nil
}
