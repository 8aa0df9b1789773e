//go:build unix

package atomicfile

import (
	"fmt"
	"os"
)

// SyncDir flushes dir's entries to disk, making renames and creations in
// it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
