//go:build !linux

package s3_test

// isTmpfs reports whether dir is on a tmpfs file system; only Linux is
// checked.
func isTmpfs(string) bool { return false }
