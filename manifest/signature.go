package manifest

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
)

// Signed is a manifest whose signature verified.
type Signed struct {
	*Manifest
	// SignedAt is the signing time from the signature's trusted comment.
	SignedAt time.Time
}

// Verify checks sig, the content of the manifest's .minisig file, against
// data, the manifest's exact bytes, with key, and parses the manifest. A
// missing, malformed or foreign signature, or one that does not match,
// wraps ErrTampered; a signature without a "timestamp:" in its trusted
// comment, or a manifest that does not parse, wraps ErrFormat.
func Verify(key minisign.PublicKey, data, sig []byte) (*Signed, error) {
	if len(sig) == 0 {
		return nil, fmt.Errorf("%w: no signature published beside the manifest", ErrTampered)
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return nil, fmt.Errorf("%w: malformed signature: %v", ErrTampered, err)
	}
	if s.KeyID != key.ID() {
		return nil, fmt.Errorf("%w: signed by key %X, want key %X", ErrTampered, s.KeyID, key.ID())
	}
	if !minisign.Verify(key, data, sig) {
		return nil, fmt.Errorf("%w: the signature does not match the manifest's bytes", ErrTampered)
	}
	at, err := SignedTime(s.TrustedComment)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return &Signed{Manifest: m, SignedAt: at}, nil
}

// SignedTime extracts the "timestamp:<unix seconds>" field of a minisign
// trusted comment, as minisign -S writes it (fields separated by tabs).
func SignedTime(trustedComment string) (time.Time, error) {
	for _, field := range strings.Fields(trustedComment) {
		if v, ok := strings.CutPrefix(field, "timestamp:"); ok {
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil || sec <= 0 {
				return time.Time{}, fmt.Errorf("%w: bad timestamp %q in the signature's trusted comment", ErrFormat, v)
			}
			return time.Unix(sec, 0).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: the signature's trusted comment has no timestamp (sign with minisign -S or overseer-release)", ErrFormat)
}

// Sign returns a prehashed minisign signature of data, as minisign -S
// writes it, with a trusted comment of "timestamp:<at>\tfile:<file>".
func Sign(key minisign.PrivateKey, data []byte, file string, at time.Time) []byte {
	r := minisign.NewReader(bytes.NewReader(data))
	_, _ = io.Copy(io.Discard, r) // reading a bytes.Reader cannot fail
	trusted := "timestamp:" + strconv.FormatInt(at.Unix(), 10)
	if file != "" {
		trusted += "\tfile:" + file + "\thashed"
	}
	untrusted := "signature from minisign secret key"
	return r.SignWithComments(key, trusted, untrusted)
}

// ParsePublicKey parses a minisign public key: the base64 line of a .pub
// file, or the whole file.
func ParsePublicKey(text string) (minisign.PublicKey, error) {
	text = strings.TrimSpace(text)
	if lines := strings.Split(text, "\n"); len(lines) > 1 {
		text = strings.TrimSpace(lines[len(lines)-1])
	}
	var key minisign.PublicKey
	if err := key.UnmarshalText([]byte(text)); err != nil {
		return key, fmt.Errorf("not a minisign public key: %w", err)
	}
	return key, nil
}
