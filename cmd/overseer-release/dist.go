package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// assetFlags collects -asset GOOS/GOARCH=PATH flags.
type assetFlags map[string]string

func (a *assetFlags) String() string { return fmt.Sprint(map[string]string(*a)) }

func (a *assetFlags) Set(v string) error {
	platform, path, ok := strings.Cut(v, "=")
	if !ok || !strings.Contains(platform, "/") || path == "" {
		return fmt.Errorf("want GOOS/GOARCH=PATH, got %q", v)
	}
	if *a == nil {
		*a = assetFlags{}
	}
	(*a)[platform] = path
	return nil
}

// Known GOOS and GOARCH values, to find the platform in a directory name.
var (
	knownOS   = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
	knownArch = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
)

// platformOf finds GOOS_GOARCH in a GoReleaser build directory name such
// as app_linux_amd64_v1 or app_darwin_arm64.
func platformOf(dir string) (string, bool) {
	parts := strings.Split(dir, "_")
	for i := len(parts) - 2; i >= 1; i-- {
		if slices.Contains(knownOS, parts[i]) && slices.Contains(knownArch, parts[i+1]) {
			return parts[i] + "/" + parts[i+1], true
		}
	}
	return "", false
}

// scanDist maps each platform to its binary in a GoReleaser-style dist
// directory. Directories whose names carry no platform are skipped.
func scanDist(dist, binary string) (map[string]string, error) {
	entries, err := os.ReadDir(dist)
	if err != nil {
		return nil, fmt.Errorf("read -dist: %w", err)
	}
	found := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		platform, ok := platformOf(e.Name())
		if !ok {
			continue
		}
		path, err := binaryIn(filepath.Join(dist, e.Name()), binary)
		if err != nil {
			return nil, err
		}
		if prev, dup := found[platform]; dup {
			return nil, fmt.Errorf("two builds for %s: %s and %s (remove one, or name them with -asset)", platform, prev, path)
		}
		found[platform] = path
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no NAME_OS_ARCH directories in %s", dist)
	}
	return found, nil
}

// binaryIn returns the binary in a build directory: the file named binary
// (or binary.exe), or the only regular file that is not a signature.
func binaryIn(dir, binary string) (string, error) {
	if binary != "" {
		for _, name := range []string{binary, binary + ".exe"} {
			if info, err := os.Stat(filepath.Join(dir, name)); err == nil && info.Mode().IsRegular() {
				return filepath.Join(dir, name), nil
			}
		}
		return "", fmt.Errorf("no %s in %s", binary, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".minisig") {
			files = append(files, e.Name())
		}
	}
	if len(files) != 1 {
		return "", fmt.Errorf("%s holds %d files; name the binary with -binary", dir, len(files))
	}
	return filepath.Join(dir, files[0]), nil
}
