//go:build unix

package overseer

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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
// (required when a key is set) and a published checksum. It returns the
// reader to stage instead of r, the check to run on the staged binary's
// SHA-256 once it is read, and the signature's identity and signed time.
func (v *verifier) expect(r io.Reader) (*expectation, error) {
	var checks []func(string) error
	exp := &expectation{}
	if cs, ok := r.(fetcher.Checksummed); ok {
		want, err := cs.SHA256()
		if err != nil {
			return nil, fmt.Errorf("fetch the published checksum: %w", err)
		}
		if want != "" {
			exp.sumID = strings.ToLower(want)
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
			return nil, fmt.Errorf("%w: Config.PublicKey is set but this fetcher cannot supply signatures (%T)", errRejected, r)
		}
		raw, err := signed.Signature()
		if err != nil {
			return nil, fmt.Errorf("fetch the signature: %w", err)
		}
		if raw == nil {
			return nil, fmt.Errorf("%w: no signature was published beside the binary; sign it with 'minisign -Sm FILE' and publish FILE.minisig", errRejected)
		}
		sum := sha256.Sum256(raw)
		exp.sigID = hex.EncodeToString(sum[:])
		var sig minisign.Signature
		if err := sig.UnmarshalText(raw); err != nil {
			return nil, fmt.Errorf("%w: the signature file is malformed: %v", errRejected, err)
		}
		if sig.Algorithm != minisign.HashEdDSA {
			return nil, fmt.Errorf("%w: legacy (non-prehashed) signature; sign with a current minisign without -l", errRejected)
		}
		if sig.KeyID != v.key.ID() {
			return nil, fmt.Errorf("%w: signed by key %X, but Config.PublicKey is key %X", errRejected, sig.KeyID, v.key.ID())
		}
		if exp.signedAt, err = v.signedTime(sig); err != nil {
			return nil, err
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
	exp.body = r
	exp.check = func(sha string) error {
		for _, check := range checks {
			if err := check(sha); err != nil {
				return err
			}
		}
		return nil
	}
	return exp, nil
}

// expectation is what verification learnt before the binary is read.
type expectation struct {
	// body is the reader to stage instead of the fetcher's.
	body io.Reader
	// check runs on the staged binary's SHA-256 once it is read.
	check func(sha256 string) error
	// sigID is the SHA-256 (hex) of the signature file; "" without a key.
	sigID string
	// signedAt is the authenticated signing time; zero without a key.
	signedAt time.Time
	// sumID is the published SHA-256 the binary must match; "" if none
	// was published.
	sumID string
}

// releaseID names the release made of the binary with SHA-256 binID, this
// signature and this published checksum: a corrected signature, or a
// corrected checksum (a manifest republished with the right digest),
// beside the same binary is another release. A release that fails its
// verification is quarantined under this name, never under the binary's
// alone, so a genuine binary published once with a wrong signature or
// digest is not refused for good.
func (e *expectation) releaseID(binID string) string {
	id := binID
	if e.sigID != "" {
		id += "+" + e.sigID
	}
	if e.sumID != "" {
		id += "+sha256:" + e.sumID
	}
	return id
}

// signedTime authenticates sig's trusted comment with the key (the global
// signature covers the signature and the comment) and returns the signing
// time minisign puts there by default ("timestamp:<unix seconds>"). A
// signature without one is refused: under a public key, a release whose
// age cannot be told apart could be replayed to downgrade the service.
func (v *verifier) signedTime(sig minisign.Signature) (time.Time, error) {
	raw, err := base64.StdEncoding.DecodeString(v.key.String())
	if err != nil || len(raw) != 2+8+ed25519.PublicKeySize {
		return time.Time{}, fmt.Errorf("decode the public key: unexpected encoding")
	}
	global := append(sig.Signature[:], sig.TrustedComment...)
	if !ed25519.Verify(ed25519.PublicKey(raw[10:]), global, sig.CommentSignature[:]) {
		return time.Time{}, fmt.Errorf("%w: the trusted comment's signature does not verify (the comment was altered after signing)", errRejected)
	}
	t, ok := commentTimestamp(sig.TrustedComment)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: the signature's trusted comment %q carries no timestamp, so a replayed older release could not be told apart; sign with minisign's default trusted comment, or put \"timestamp:<unix seconds>\" in the one you pass with -t", errRejected, sig.TrustedComment)
	}
	return t, nil
}

// commentTimestamp finds "timestamp:<unix seconds>" in a trusted comment;
// minisign separates the comment's fields with tabs.
func commentTimestamp(comment string) (time.Time, bool) {
	for _, field := range strings.FieldsFunc(comment, func(r rune) bool { return r == '\t' || r == ' ' }) {
		if v, ok := strings.CutPrefix(field, "timestamp:"); ok {
			secs, err := strconv.ParseInt(v, 10, 64)
			if err != nil || secs <= 0 {
				return time.Time{}, false
			}
			return time.Unix(secs, 0).UTC(), true
		}
	}
	return time.Time{}, false
}
