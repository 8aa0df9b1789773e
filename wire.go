package overseer

import "os"

// The contract between the master and its children, and between the
// master and a sanity-checked binary. Both sides of every exchange are
// built from the same binary only during a handover to itself; across an
// upgrade the new binary's child talks to the old binary's master, so
// everything here must stay compatible from one release to the next:
// add, never change.

// The environment the master passes to a child. Children remove these
// variables from their own environment, so the program's own subprocesses
// do not inherit them.
const (
	envChildID = "OVERSEER_CHILD_ID"   // the child's sequence number; its presence marks a child
	envBinID   = "OVERSEER_BIN_ID"     // SHA-256 of the binary, hex
	envBinPath = "OVERSEER_BIN_PATH"   // the binary overseer runs and upgrades
	envNumFDs  = "OVERSEER_LISTEN_FDS" // listeners passed after the control channel
)

// The environment of a sanity check (see sanitycheck.go).
const (
	envCheck   = "OVERSEER_BIN_CHECK" // a token: this process is a sanity check
	envCheckFD = "OVERSEER_CHECK_FD"  // the descriptor the check token is written to
)

// Descriptors a child inherits.
const (
	ctlFD       = 3 // the control channel: one end of a Unix stream socketpair
	firstListFD = 4 // the sockets, in Config.Addresses order, follow it
)

// Messages on the control channel, child to master: one per line, each a
// word. The master reads lines of at most maxControlLine bytes and skips
// longer ones and words it does not know, so a newer child can send a
// message an older master ignores. The master sends nothing; the
// channel's end (EOF) tells a child its master is gone.
const (
	msgReady       = "ready"   // the child can serve; the master may drain the previous one
	msgRestart     = "restart" // Restart was called in the child
	maxControlLine = 4096
)

// isChild reports whether the master started this process.
func isChild() bool {
	return os.Getenv(envChildID) != ""
}
