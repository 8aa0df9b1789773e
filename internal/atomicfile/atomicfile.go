// Package atomicfile replaces files so that a reader, or a process started
// after a power cut, sees the old content or the new, never a mix.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data and mode: it writes a temporary file
// in the same directory, flushes it to disk, renames it onto path and, where
// the system allows, flushes the directory so the rename itself is durable.
// On error, path is unchanged and the temporary file is removed.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if dir == "" {
		dir = "."
	}
	return SyncDir(filepath.Clean(dir))
}
