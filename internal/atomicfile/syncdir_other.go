//go:build !unix

package atomicfile

// SyncDir does nothing where directories cannot be flushed (Windows): a
// rename there is as durable as the file system makes it.
func SyncDir(dir string) error { return nil }
