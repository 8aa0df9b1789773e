//go:build !linux

package overseer

// awaitExit returns at once: without pidfds, exec.Cmd.Wait holds an OS
// thread while it waits for the child.
func awaitExit(pid int) {}
