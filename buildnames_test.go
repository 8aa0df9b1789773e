package overseer

import (
	"bufio"
	"go/build/constraint"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestFileNamesMatchBuildConstraints: a file's name says on which
// platforms it is built, and its //go:build line agrees.
//
//   - x_linux.go (any GOOS or GOARCH suffix): no //go:build line, the name
//     is the constraint;
//   - x_unix.go: exactly //go:build unix (Go does not read "unix" from a
//     name);
//   - x_other.go: the complement of its siblings, e.g. !linux beside
//     x_linux.go, !unix beside x_unix.go;
//   - race_test.go, norace_test.go: race, !race;
//   - any other name: no //go:build line.
//
// Every .go file of the repository is checked, in every module.
func TestFileNamesMatchBuildConstraints(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		switch name := d.Name(); {
		case d.IsDir():
		case strings.HasSuffix(name, ".go"):
			files = append(files, path)
		case strings.Contains(name, ".go") && !strings.HasPrefix(name, "go."):
			// A slip of a rename ("x_test.go,", "x.go.orig"): the go tool
			// ignores the file, and its tests silently stop running.
			t.Errorf("%s: not a .go file, though its name says it was one: rename it", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found %d Go files; is the test running in the repository root?", len(files))
	}
	stale := make(map[string]bool)
	for path := range pendingRename {
		stale[path] = true
	}
	for _, path := range files {
		got, err := buildLine(path)
		if err != nil {
			t.Error(err)
			continue
		}
		want, err := wantedConstraint(path)
		if err != nil {
			t.Error(err)
			continue
		}
		pending := pendingRename[filepath.ToSlash(path)]
		delete(stale, filepath.ToSlash(path))
		if got == want {
			if pending {
				t.Errorf("%s matches its constraint now: remove it from pendingRename", path)
			}
			continue
		}
		if pending {
			continue
		}
		switch {
		case want == "" && got == "unix":
			t.Errorf("%s: //go:build unix in a file not named *_unix.go: git mv %s %s", path, path, withSuffix(path, "unix"))
		case want == "" && contains(knownOS, got):
			t.Errorf("%s: //go:build %s in a file not named *_%s.go: git mv %s %s, then drop the line", path, got, got, path, withSuffix(path, got))
		case want == "":
			t.Errorf("%s: //go:build %s, but the name says no constraint: rename the file (x_linux.go needs no //go:build line) or drop the line", path, got)
		default:
			t.Errorf("%s: //go:build %q, want %q for this name", path, got, want)
		}
	}
	for path := range stale {
		t.Errorf("pendingRename lists %s, which does not exist: remove it", path)
	}
}

// pendingRename lists files that do not match yet: their rename waits for
// the work in progress on them (issue 8). Remove an entry and the test
// prints the git mv to run.
var pendingRename = map[string]bool{}

// buildLine returns the normalised //go:build expression of the file at
// path, or "" if it has none.
func buildLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if constraint.IsGoBuild(line) {
			expr, err := constraint.Parse(line)
			if err != nil {
				return "", err
			}
			return expr.String(), nil
		}
		if strings.HasPrefix(line, "package ") {
			break
		}
	}
	return "", sc.Err()
}

// Suffixes go/build reads from a file name.
var (
	knownOS   = strings.Fields("aix android darwin dragonfly freebsd hurd illumos ios js linux netbsd openbsd plan9 solaris wasip1 windows zos")
	knownArch = strings.Fields("386 amd64 arm arm64 loong64 mips mips64 mips64le mipsle ppc64 ppc64le riscv64 s390x wasm")
)

// nameParts splits a file name into its stem and its platform suffix
// ("unix", "other", a GOOS or GOARCH, or ""), without .go or _test.
func nameParts(path string) (stem, suffix string, test bool) {
	base := strings.TrimSuffix(filepath.Base(path), ".go")
	base, test = strings.CutSuffix(base, "_test")
	i := strings.LastIndex(base, "_")
	if i < 0 {
		return base, "", test
	}
	s := base[i+1:]
	if s == "unix" || s == "other" || contains(knownOS, s) || contains(knownArch, s) {
		return base[:i], s, test
	}
	return base, "", test
}

// wantedConstraint is the normalised //go:build expression path's name
// calls for ("" for none).
func wantedConstraint(path string) (string, error) {
	stem, suffix, test := nameParts(path)
	switch {
	case suffix == "unix":
		return "unix", nil
	case suffix == "other":
		siblings, err := siblingSuffixes(path, stem, test)
		if err != nil {
			return "", err
		}
		if len(siblings) == 0 {
			return "", &os.PathError{Op: "check", Path: path, Err: fs.ErrNotExist}
		}
		neg := make([]string, len(siblings))
		for i, s := range siblings {
			neg[i] = "!" + s
		}
		return strings.Join(neg, " && "), nil
	case suffix != "":
		return "", nil
	case stem == "race":
		return "race", nil
	case stem == "norace":
		return "!race", nil
	}
	return "", nil
}

// siblingSuffixes returns the platform suffixes of the files beside path
// with the same stem and test-ness, other than "other", sorted.
func siblingSuffixes(path, stem string, test bool) ([]string, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		st, s, tt := nameParts(e.Name())
		if st == stem && tt == test && s != "" && s != "other" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}

// withSuffix returns path renamed to carry the platform suffix s.
func withSuffix(path, s string) string {
	if p, ok := strings.CutSuffix(path, "_test.go"); ok {
		return p + "_" + s + "_test.go"
	}
	return strings.TrimSuffix(path, ".go") + "_" + s + ".go"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
