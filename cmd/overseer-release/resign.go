package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/manifest"
)

// maxClockLag bounds how far ahead of this machine's clock the manifest's
// previous signature may be: resign waits that long for its own signing
// time to be newer, and refuses beyond it.
const maxClockLag = 2 * time.Second

// resign re-signs the published manifest o.resign without its binaries:
// it verifies the manifest with the public half of o.key, keeps its
// version, channel and assets, applies the flags the user gave (-percent,
// -hosts, -expires) and writes it, signed anew, into o.out (default: the
// manifest's directory).
func resign(o options, given map[string]bool, stdout io.Writer, log *slog.Logger) error {
	key, err := readKey(o.key, o.noPassword, o.passwordFile)
	if err != nil {
		return err
	}
	pub, ok := key.Public().(minisign.PublicKey)
	if !ok {
		return fmt.Errorf("secret key %s: no minisign public key in it", o.key)
	}
	s, err := readSigned(o.resign, o.key, pub)
	if err != nil {
		return err
	}
	now := time.Now()
	if !now.Before(s.Expires) {
		if !given["expires"] {
			return fmt.Errorf("%s expired at %s and every host refuses it: give -expires (e.g. -expires 336h) to renew it", o.resign, s.Expires.UTC().Format(time.RFC3339))
		}
		log.Warn("re-signing an EXPIRED manifest: hosts have refused it since it expired, and take it again once this one is published",
			"file", o.resign, "version", s.Version, "expired", s.Expires.UTC().Format(time.RFC3339))
	}
	m := *s.Manifest
	applyFlags(&m, o, given, now)
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("re-sign %s: %w", o.resign, err)
	}
	if err := changesSomething(s.Manifest, data); err != nil {
		return fmt.Errorf("re-sign %s: %w", o.resign, err)
	}
	at, err := signingTime(s.SignedAt)
	if err != nil {
		return fmt.Errorf("re-sign %s: %w", o.resign, err)
	}
	if !at.Before(m.Expires) {
		return fmt.Errorf("re-sign %s: it would expire at %s, before it is signed: give a longer -expires", o.resign, m.Expires.Format(time.RFC3339))
	}
	out := o.out
	if out == "" {
		out = filepath.Dir(o.resign)
	}
	file := filepath.Join(out, "manifest.json")
	// The signature goes first, as in publish.
	if err := writeFile(file+".minisig", manifest.Sign(key, data, "manifest.json", at)); err != nil {
		return err
	}
	if err := writeFile(file, data); err != nil {
		return err
	}
	log.Info("manifest re-signed", "file", file, "version", m.Version, "previously_signed", s.SignedAt, "signed", at.UTC().Truncate(time.Second))
	fmt.Fprintln(stdout, summary("re-signed", file, &m, at))
	return nil
}

// readSigned reads the manifest at path and its .minisig and verifies
// them with pub, the public half of the secret key file keyFile.
func readSigned(path, keyFile string, pub minisign.PublicKey) (*manifest.Signed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the manifest to re-sign: %w", err)
	}
	sig, err := os.ReadFile(path + ".minisig")
	if err != nil {
		return nil, fmt.Errorf("read the manifest's signature (it must be beside the manifest): %w", err)
	}
	s, err := manifest.Verify(pub, data, sig)
	if errors.Is(err, manifest.ErrTampered) {
		return nil, fmt.Errorf("refusing to re-sign %s: it does not verify with the public key of %s (signed by another key, or changed since it was signed): %w", path, keyFile, err)
	}
	if err != nil {
		return nil, fmt.Errorf("refusing to re-sign %s: %w", path, err)
	}
	return s, nil
}

// applyFlags changes m as the flags the user gave say, and nothing else:
// -percent and -hosts each replace their part of the rollout, -expires
// sets a new expiry from now.
func applyFlags(m *manifest.Manifest, o options, given map[string]bool, now time.Time) {
	if given["percent"] || given["hosts"] {
		r := manifest.Rollout{Percent: 100}
		if m.Rollout != nil {
			r = manifest.Rollout{Percent: m.Rollout.Percent, Hosts: slices.Clone(m.Rollout.Hosts)}
		}
		if given["percent"] {
			r.Percent = o.percent
		}
		if given["hosts"] {
			r.Hosts = hostList(o.hosts)
		}
		m.Rollout = &r
		if r.Percent == 100 && len(r.Hosts) == 0 {
			m.Rollout = nil // every host, written as publish writes it
		}
	}
	if given["expires"] {
		m.Expires = now.Add(o.expires).UTC().Truncate(time.Second)
	}
}

// changesSomething refuses a re-sign whose manifest says what the
// published one says (the same rollout and expiry: no flag given, or each
// given one already in effect). Hosts watch the manifest alone, not its
// signature (see docs/manifest.md), so a manifest re-signed with the same
// content would be a publication that no host can tell from the last one.
func changesSomething(prev *manifest.Manifest, data []byte) error {
	before, err := prev.Marshal()
	if err != nil {
		return err
	}
	if bytes.Equal(before, data) {
		return errors.New("nothing to change: the manifest already has this rollout and expiry (give -percent, -hosts or -expires with a new value; to renew, -expires)")
	}
	return nil
}

// signingTime returns the time to sign a re-signed manifest at: now, if
// it is in a later second than prev, the previous signature's time. Hosts
// take only a manifest signed after the newest one they accepted, and a
// signature records whole seconds, so a re-sign in the same second as
// the publish it follows waits for the next second. A previous signature
// further ahead of this clock is refused: the new one would not be newer
// and every host would ignore it.
func signingTime(prev time.Time) (time.Time, error) {
	now := time.Now()
	if now.Unix() > prev.Unix() {
		return now, nil
	}
	next := time.Unix(prev.Unix()+1, 0)
	wait := next.Sub(now)
	if wait > maxClockLag {
		return time.Time{}, fmt.Errorf("the manifest was signed at %s, %v after this machine's clock: a signature made now would not be newer and hosts would ignore it; fix this clock (NTP)",
			prev.UTC().Format(time.RFC3339), wait.Round(time.Second))
	}
	time.Sleep(wait)
	if now = time.Now(); now.Before(next) {
		now = next
	}
	return now, nil
}
