package fetcher

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
)

// maxChecksumsSize bounds the size of a checksums file.
const maxChecksumsSize = 1 << 20

// parseChecksums parses a list of SHA-256 digests as written by goreleaser
// and sha256sum ("<hex>  <name>", "<hex> *<name>" in binary mode) or by BSD
// tools ("SHA256 (<name>) = <hex>"), and returns lowercase hex digests by
// file name (without any directory). Blank lines, comments (#) and lines
// that are not SHA-256 entries are skipped; a name listed twice with
// different digests, or a file without a single entry, is an error.
func parseChecksums(b []byte) (map[string]string, error) {
	if len(b) > maxChecksumsSize {
		return nil, fmt.Errorf("checksums file larger than %d bytes", maxChecksumsSize)
	}
	sums := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxChecksumsSize)
	for sc.Scan() {
		name, sum, ok := parseChecksumLine(sc.Text())
		if !ok {
			continue
		}
		if prev, dup := sums[name]; dup && prev != sum {
			return nil, fmt.Errorf("checksums file lists %q twice with different digests", name)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("checksums file: %w", err)
	}
	if len(sums) == 0 {
		return nil, errors.New("checksums file has no SHA-256 entries")
	}
	return sums, nil
}

// parseChecksumLine parses one line; ok is false for anything that is not a
// SHA-256 entry.
func parseChecksumLine(line string) (name, sum string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false
	}
	if rest, found := strings.CutPrefix(line, "SHA256 ("); found {
		// BSD style: SHA256 (name) = hex
		i := strings.LastIndex(rest, ") = ")
		if i < 0 {
			return "", "", false
		}
		name, sum = rest[:i], rest[i+len(") = "):]
	} else {
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return "", "", false
		}
		sum, name = line[:i], strings.TrimLeft(line[i:], " \t")
		name = strings.TrimPrefix(name, "*")
	}
	sum = strings.ToLower(strings.TrimSpace(sum))
	if len(sum) != 64 {
		return "", "", false
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", "", false
	}
	name = path.Base(strings.ReplaceAll(strings.TrimSpace(name), `\`, "/"))
	if name == "" || name == "." || name == "/" || name == ".." {
		return "", "", false
	}
	return name, sum, true
}

// isChecksumsName reports whether an asset is a checksums file: goreleaser
// names it checksums.txt or <project>_<version>_checksums.txt; SHA256SUMS is
// the other common convention.
func isChecksumsName(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, "checksums.txt") || n == "sha256sums" || n == "sha256sums.txt"
}
