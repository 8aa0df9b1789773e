package main

import (
	"regexp"
	"slices"
	"strings"
)

// notBinary are the name endings of what GoReleaser writes into dist/
// beside binary archives: checksums, signatures, other archives, packages,
// SBOMs, its own records, and this command's manifest.
var notBinary = []string{
	".minisig", ".sig", ".asc", ".pem", ".sha256", ".txt", ".json", ".yaml", ".yml",
	".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tar", ".gz", ".xz", ".zst", ".zip",
	".deb", ".rpm", ".apk", ".ipk", ".pkg.tar.zst", ".dmg", ".msi", ".snap",
}

// variantPart is one part of a build variant after the platform: v1, 7,
// hardfloat, sse2, v8.0. Anything with another dot in it (v1.tar.gz,
// v8.0.zip) is a file extension, not a variant.
var variantPart = regexp.MustCompile(`^[A-Za-z0-9]+(\.[0-9]+)?$`)

// flatPlatform tells whether a regular file in the dist root is a binary
// archive as GoReleaser's "formats: [binary]" writes it, a binary named
// like app_linux_amd64, app_1.4.0_linux_arm64_v8 or app_windows_amd64.exe,
// and returns its platform. Checksums, signatures, archives, packages and
// SBOMs are not binaries, even when their names carry a platform.
func flatPlatform(name string) (string, bool) {
	lower := strings.ToLower(name)
	if strings.Contains(lower, ".sbom") || slices.ContainsFunc(notBinary, func(ext string) bool { return strings.HasSuffix(lower, ext) }) {
		return "", false
	}
	platform, variant, ok := splitPlatform(strings.TrimSuffix(name, ".exe"))
	if !ok {
		return "", false
	}
	for _, p := range variant {
		if !variantPart.MatchString(p) {
			return "", false
		}
	}
	return platform, true
}
