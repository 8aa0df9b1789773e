//go:build !unix

package overseer

// runV1Child is not reached: a jpillora/overseer master cannot start
// children where this library cannot hand over sockets.
func runV1Child(*Config) error { return errUnsupported }
