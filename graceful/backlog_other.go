//go:build !unix

package graceful

import "net"

// shrinkBacklog does nothing where the accept queue cannot be resized.
func shrinkBacklog(net.Listener) {}
