//go:build unix

package overseer

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/fetcher"
)

// verifier checks fetched binaries against a minisign public key. A nil
// *verifier checks nothing (no Config.PublicKey).
type verifier struct {
	key minisign.PublicKey
}

// newVerifier parses Config.PublicKey: the base64 line of a minisign .pub
// file (the whole file is accepted too).
func newVerifier(publicKey string) (*verifier, error) {
	text := strings.TrimSpace(publicKey)
	if text == "" {
		return nil, nil
	}
	if lines := strings.Split(text, "\n"); len(lines) > 1 {
		text = strings.TrimSpace(lines[len(lines)-1]) // the key follows the untrusted comment
	}
	var key minisign.PublicKey
	if err := key.UnmarshalText([]byte(text)); err != nil {
		return nil, fmt.Errorf("Config.PublicKey is not a minisign public key (use the second line of the .pub file minisign -G writes): %w", err)
	}
	return &verifier{key: key}, nil
}

// errRejected marks a binary that failed verification: it must not be
// retried until the source offers another one.
var errRejected = errors.New("verification failed")

// expect inspects what r offers before the binary is read: the signature
// (required when a key is set) and a published checksum. It returns a
// reader to stage instead of r, and a check to run on the staged binary's
// SHA-256 once it is read.
func (v *verifier) expect(r io.Reader) (io.Reader, func(sha256 string) error, error) {
	var checks []func(string) error
	if cs, ok := r.(fetcher.Checksummed); ok {
		want, err := cs.SHA256()
		if err != nil {
			return nil, nil, fmt.Errorf("fetch the published checksum: %w", err)
		}
		if want != "" {
			checks = append(checks, func(got string) error {
				if !strings.EqualFold(got, want) {
					return fmt.Errorf("%w: SHA-256 %s does not match the published checksum %s", errRejected, got, want)
				}
				return nil
			})
		}
	}
	if v != nil {
		signed, ok := r.(fetcher.Signed)
		if !ok {
			return nil, nil, fmt.Errorf("%w: Config.PublicKey is set but this fetcher cannot supply signatures (%T)", errRejected, r)
		}
		raw, err := signed.Signature()
		if err != nil {
			return nil, nil, fmt.Errorf("fetch the signature: %w", err)
		}
		if raw == nil {
			return nil, nil, fmt.Errorf("%w: no signature was published beside the binary; sign it with 'minisign -Sm FILE' and publish FILE.minisig", errRejected)
		}
		var sig minisign.Signature
		if err := sig.UnmarshalText(raw); err != nil {
			return nil, nil, fmt.Errorf("%w: the signature file is malformed: %v", errRejected, err)
		}
		if sig.Algorithm != minisign.HashEdDSA {
			return nil, nil, fmt.Errorf("%w: legacy (non-prehashed) signature; sign with a current minisign without -l", errRejected)
		}
		if sig.KeyID != v.key.ID() {
			return nil, nil, fmt.Errorf("%w: signed by key %X, but Config.PublicKey is key %X", errRejected, sig.KeyID, v.key.ID())
		}
		digest := minisign.NewReader(r)
		r = digest
		checks = append(checks, func(string) error {
			if !digest.Verify(v.key, raw) {
				return fmt.Errorf("%w: the signature does not match the binary (tampered, or signed over other bytes)", errRejected)
			}
			return nil
		})
	}
	return r, func(sha string) error {
		for _, check := range checks {
			if err := check(sha); err != nil {
				return err
			}
		}
		return nil
	}, nil
}
