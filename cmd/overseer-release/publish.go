package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/seed-710818af/overseer/internal/atomicfile"
	"github.com/seed-710818af/overseer/manifest"
)

// publish signs the binaries and writes the signed manifest.
func publish(o options, stdout io.Writer, log *slog.Logger) error {
	key, err := readKey(o.key, o.noPassword, o.passwordFile)
	if err != nil {
		return err
	}
	builds := map[string]string{}
	if o.dist != "" {
		if builds, err = scanDist(o.dist, o.binary, log); err != nil {
			return err
		}
	}
	maps.Copy(builds, o.assets)
	now := time.Now()
	m := &manifest.Manifest{
		Format:  manifest.Format,
		Version: o.version,
		Channel: o.channel,
		Expires: now.Add(o.expires).UTC().Truncate(time.Second),
		Rollout: o.rollout(),
		Assets:  map[string]manifest.Asset{},
	}
	platforms := make([]string, 0, len(builds))
	for p := range builds {
		platforms = append(platforms, p)
	}
	slices.Sort(platforms)
	for _, platform := range platforms {
		a, err := describe(builds[platform], o, key, now)
		if err != nil {
			return err
		}
		m.Assets[platform] = a
		log.Info("asset", "platform", platform, "ref", a.Ref(), "size", a.Size, "sha256", a.SHA256)
	}
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	out := filepath.Join(o.out, "manifest.json")
	// The signature goes first: a host that sees the new manifest must
	// find its signature already there.
	if err := writeFile(out+".minisig", manifest.Sign(key, data, "manifest.json", now)); err != nil {
		return err
	}
	if err := writeFile(out, data); err != nil {
		return err
	}
	log.Info("manifest written", "file", out, "version", m.Version, "expires", m.Expires, "assets", len(m.Assets))
	fmt.Fprintln(stdout, summary("published", out, m, now))
	return nil
}

// describe hashes (and signs) one binary and returns its manifest entry.
func describe(file string, o options, key minisign.PrivateKey, now time.Time) (manifest.Asset, error) {
	f, err := os.Open(file)
	if err != nil {
		return manifest.Asset{}, err
	}
	defer f.Close()
	h := sha256.New()
	r := minisign.NewReader(io.TeeReader(f, h))
	size, err := io.Copy(io.Discard, r)
	if err != nil {
		return manifest.Asset{}, fmt.Errorf("read %s: %w", file, err)
	}
	if o.signAssets {
		sig := r.SignWithComments(key, fmt.Sprintf("timestamp:%d\tfile:%s\thashed", now.Unix(), filepath.Base(file)), "signature from minisign secret key")
		if err := writeFile(file+".minisig", sig); err != nil {
			return manifest.Asset{}, err
		}
	}
	a := manifest.Asset{Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}
	rel, err := filepath.Rel(o.out, file)
	if err != nil || strings.HasPrefix(rel, "..") {
		if o.baseURL == "" {
			return manifest.Asset{}, fmt.Errorf("%s is outside -out %s: set -base-url", file, o.out)
		}
		rel = filepath.Base(file)
	}
	a.Name = filepath.ToSlash(rel)
	if o.baseURL != "" {
		u, err := url.Parse(o.baseURL)
		if err != nil {
			return manifest.Asset{}, fmt.Errorf("-base-url: %w", err)
		}
		u.Path = path.Join(u.Path, a.Name)
		a.URL, a.Name = u.String(), ""
	}
	return a, nil
}

// writeFile replaces path atomically (see atomicfile.WriteFile), so a
// reader, or a store syncing the directory, sees the old file or the new
// one, never half of one.
func writeFile(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}

// readKey reads a minisign secret key file, decrypting it unless
// noPassword.
func readKey(path string, noPassword bool, passwordFile string) (minisign.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("read the secret key: %w", err)
	}
	if !minisign.IsEncrypted(raw) {
		var key minisign.PrivateKey
		if err := key.UnmarshalText(raw); err != nil {
			return key, fmt.Errorf("secret key %s: %w", path, err)
		}
		return key, nil
	}
	if noPassword {
		return minisign.PrivateKey{}, fmt.Errorf("secret key %s is encrypted: drop -W and give its password", path)
	}
	password, ok := os.LookupEnv("MINISIGN_PASSWORD")
	if passwordFile != "" {
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return minisign.PrivateKey{}, fmt.Errorf("-password-file: %w", err)
		}
		password, ok = strings.TrimRight(string(b), "\r\n"), true
	}
	if !ok {
		return minisign.PrivateKey{}, fmt.Errorf("secret key %s is encrypted: set $MINISIGN_PASSWORD or -password-file", path)
	}
	key, err := minisign.DecryptKey(password, raw)
	if err != nil {
		return key, fmt.Errorf("decrypt secret key %s (wrong password?): %w", path, err)
	}
	return key, nil
}
