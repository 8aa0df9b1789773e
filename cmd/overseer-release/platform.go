package main

import (
	"regexp"
	"slices"
	"strings"
)

// Known GOOS and GOARCH values, to find the platform in a build's name.
var (
	knownOS   = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
	knownArch = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
)

// archVariant is a GOARCH with its variant glued on, as GoReleaser's
// default binary archive names write them: armv7, amd64v3.
var archVariant = regexp.MustCompile(`^([a-z0-9]+?)v[0-9]+$`)

// archOf reads a GOARCH from one "_"-separated part of a name: amd64, or
// armv7 (GOARCH arm, variant 7).
func archOf(part string) (string, bool) {
	if slices.Contains(knownArch, part) {
		return part, true
	}
	if m := archVariant.FindStringSubmatch(part); m != nil && slices.Contains(knownArch, m[1]) {
		return m[1], true
	}
	return "", false
}

// splitPlatform finds the last GOOS_GOARCH in a GoReleaser name such as
// app_linux_amd64_v1 or app_1.4.0_darwin_arm64, after at least one part
// of prefix. It returns the platform and the parts after it (the variant:
// ["v1"], or none).
func splitPlatform(name string) (platform string, rest []string, ok bool) {
	parts := strings.Split(name, "_")
	for i := len(parts) - 2; i >= 1; i-- {
		if !slices.Contains(knownOS, parts[i]) {
			continue
		}
		if arch, ok := archOf(parts[i+1]); ok {
			return parts[i] + "/" + arch, parts[i+2:], true
		}
	}
	return "", nil, false
}

// platformOf finds GOOS/GOARCH in a GoReleaser build directory name such
// as app_linux_amd64_v1 or app_darwin_arm64.
func platformOf(dir string) (string, bool) {
	platform, _, ok := splitPlatform(dir)
	return platform, ok
}
