// Command overseer-release writes and signs the release manifest a fleet of
// overseer services polls (see fetcher.Manifest and docs/manifest.md).
//
// It reads built binaries from a GoReleaser-style dist directory or from
// -asset flags. A dist directory holds one directory per platform, named
// like app_linux_amd64_v1/app (what "goreleaser build" writes), or binary
// archives, flat files named like app_1.4.0_linux_amd64 or
// app_windows_amd64.exe (what "goreleaser release" writes with
// "formats: [binary]", the names a GitHub release holds), or both: a
// platform found both ways is published from its flat file. It signs each
// binary (BINARY.minisig beside it, for
// Config.PublicKey) and writes manifest.json and manifest.json.minisig,
// signed with a minisign secret key made by "minisign -G" (encrypted: the
// password comes from $MINISIGN_PASSWORD or -password-file; or -W for a
// key made with "minisign -G -W").
//
//	go run github.com/seed-710818af/overseer/cmd/overseer-release \
//	    -key ~/.minisign/minisign.key -version v1.4.0 -dist dist -binary app \
//	    -percent 10 -expires 336h
//
// Then upload the dist directory (binaries, their .minisig files and the
// manifest) to the store the fleet polls. For a GitHub release that
// goreleaser already published with binary archives, upload only the
// .minisig files, then manifest.json.minisig, then manifest.json:
//
//	gh release upload v1.4.0 dist/*.minisig
//	gh release upload v1.4.0 dist/manifest.json
//
// To widen, halt or re-sign before expiry, re-sign the published manifest
// with -resign: it needs only the key and manifest.json (with its
// .minisig), not the binaries. It verifies the manifest with the key first,
// keeps its version, channel and assets, changes only what -percent,
// -hosts and -expires say, and signs it anew, so hosts see it as newer.
// A re-sign that would change nothing is refused: hosts watch the
// manifest, not its signature. For example:
//
//	go run github.com/seed-710818af/overseer/cmd/overseer-release \
//	    -key ~/.minisign/minisign.key -resign manifest.json -percent 50
//
// Running the command again on a dist directory (the previous release's, to
// halt by going back to it) also signs anew: the newest run wins.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/seed-710818af/overseer/manifest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "overseer-release:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	key, passwordFile string
	noPassword        bool
	version, channel  string
	dist, binary, out string
	baseURL           string
	assets            assetFlags
	percent           float64
	hosts             string
	expires           time.Duration
	signAssets        bool
	resign            string
}

// publishOnly are the flags that describe binaries to publish: they make
// no sense with -resign, which keeps the manifest's version, channel and
// assets.
var publishOnly = []string{"version", "channel", "dist", "binary", "asset", "base-url", "sign-assets"}

// run parses args and publishes, or re-signs with -resign. The summary
// goes to stdout, logs to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("overseer-release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.key, "key", "", "minisign secret key file (`minisign -G` writes ~/.minisign/minisign.key)")
	fs.StringVar(&o.passwordFile, "password-file", "", "file holding the key's password (default: $MINISIGN_PASSWORD)")
	fs.BoolVar(&o.noPassword, "W", false, "the key is not encrypted (made with minisign -G -W)")
	fs.StringVar(&o.version, "version", "", "release version, e.g. v1.4.0 (required)")
	fs.StringVar(&o.channel, "channel", "", "channel name; hosts set to another channel refuse the manifest")
	fs.StringVar(&o.dist, "dist", "", "GoReleaser-style dist directory: NAME_OS_ARCH[_VARIANT]/BINARY build directories and/or flat NAME_OS_ARCH[_VARIANT][.exe] binaries (formats: [binary]); a flat binary wins over a directory for the same platform")
	fs.StringVar(&o.binary, "binary", "", "binary file name inside each platform directory (default: the only file there); flat binaries are taken whatever their name")
	fs.Var(&o.assets, "asset", "GOOS/GOARCH=PATH of one binary; repeatable, instead of or besides -dist")
	fs.StringVar(&o.out, "out", "", "directory to write manifest.json into (default: -dist, or the directory of -resign); asset names are relative to it")
	fs.StringVar(&o.baseURL, "base-url", "", "publish assets as absolute URLs under this URL instead of names relative to the manifest")
	fs.Float64Var(&o.percent, "percent", 100, "share of hosts that take the release, 0 to 100 in steps of 0.01 (with -resign: unchanged unless given)")
	fs.StringVar(&o.hosts, "hosts", "", "comma-separated host names that take the release regardless of -percent (with -resign: unchanged unless given)")
	fs.DurationVar(&o.expires, "expires", 14*24*time.Hour, "how long the manifest stays valid; re-sign before it lapses (with -resign: unchanged unless given)")
	fs.BoolVar(&o.signAssets, "sign-assets", true, "also write BINARY.minisig beside each binary (needed when services set Config.PublicKey)")
	fs.StringVar(&o.resign, "resign", "", "re-sign this published manifest.json without the binaries: verify it with -key, apply -percent, -hosts and -expires (refused if they change nothing), sign anew")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q: every option is a flag", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if o.resign != "" {
		for _, name := range publishOnly {
			if given[name] {
				fs.Usage()
				return fmt.Errorf("-%s cannot be used with -resign: a re-signed manifest keeps its version, channel and assets (publish a new release without -resign to change them)", name)
			}
		}
		if o.key == "" {
			fs.Usage()
			return fmt.Errorf("-key is required")
		}
		return resign(o, given, stdout, log)
	}
	if o.key == "" || o.version == "" || (o.dist == "" && len(o.assets) == 0) {
		fs.Usage()
		return fmt.Errorf("-key, -version and -dist or -asset are required (or -key and -resign to re-sign a manifest)")
	}
	if o.out == "" {
		o.out = o.dist
	}
	if o.out == "" {
		return fmt.Errorf("-out is required with -asset")
	}
	return publish(o, stdout, log)
}

// hostList splits -hosts.
func hostList(s string) []string {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// rollout builds the manifest's rollout rule: none (every host) for 100%
// without named hosts.
func (o options) rollout() *manifest.Rollout {
	hosts := hostList(o.hosts)
	if o.percent == 100 && len(hosts) == 0 {
		return nil
	}
	return &manifest.Rollout{Percent: o.percent, Hosts: hosts}
}
