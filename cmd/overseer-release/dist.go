package main

import (
	"fmt"
	"log/slog"
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

// scanDist maps each platform to its binary in a GoReleaser-style dist
// directory, in either layout GoReleaser writes:
//
//   - a build directory per platform, NAME_OS_ARCH[_VARIANT]/BINARY (what
//     "goreleaser build" writes); binary names the file inside, or, if
//     empty, it is the only file there;
//   - binary archives, flat files in the dist root named like
//     app_1.4.0_linux_amd64 or app_windows_amd64.exe (what "goreleaser
//     release" with "formats: [binary]" writes and uploads to a GitHub
//     release).
//
// A platform found both ways is published from its flat file, the one a
// GitHub release holds, and the directory is ignored (logged). Two
// directories, or two flat files, for one platform are an error. Other
// files and directories (checksums.txt, archives, packages, signatures,
// GoReleaser's records) are skipped.
func scanDist(dist, binary string, log *slog.Logger) (map[string]string, error) {
	entries, err := os.ReadDir(dist)
	if err != nil {
		return nil, fmt.Errorf("read -dist: %w", err)
	}
	dirs, flat := map[string]string{}, map[string]string{}
	for _, e := range entries {
		name, path := e.Name(), filepath.Join(dist, e.Name())
		if e.IsDir() {
			platform, ok := platformOf(name)
			if !ok {
				continue
			}
			if prev, dup := dirs[platform]; dup {
				return nil, fmt.Errorf("two build directories for %s: %s and %s (remove one, or name the binaries with -asset)", platform, prev, path)
			}
			dirs[platform] = path
			continue
		}
		platform, ok := flatPlatform(name)
		if !ok || !isRegular(path) {
			continue
		}
		if prev, dup := flat[platform]; dup {
			return nil, fmt.Errorf("two binaries for %s: %s and %s (remove one, or name the binaries with -asset)", platform, prev, path)
		}
		flat[platform] = path
	}
	if len(dirs) == 0 && len(flat) == 0 {
		return nil, fmt.Errorf("no NAME_OS_ARCH directories or flat NAME_OS_ARCH binaries in %s", dist)
	}
	platforms := make([]string, 0, len(dirs))
	for platform := range dirs {
		platforms = append(platforms, platform)
	}
	slices.Sort(platforms)
	hasFlat := len(flat) > 0
	found := flat
	for _, platform := range platforms {
		dir := dirs[platform]
		if file, ok := flat[platform]; ok {
			log.Info("publishing the flat binary, not the build directory", "platform", platform, "binary", file, "ignored", dir)
			continue
		}
		path, err := binaryIn(dir, binary)
		if err != nil {
			return nil, err
		}
		if hasFlat {
			log.Warn("no flat binary for this platform: publishing the build directory's, whose asset name has a \"/\" that a GitHub release cannot hold", "platform", platform, "binary", path)
		}
		found[platform] = path
	}
	return found, nil
}

// isRegular tells whether path is a regular file, or a symbolic link to
// one.
func isRegular(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
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
