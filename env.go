package overseer

import "os"

// The environment the master passes to a child. Children remove these
// variables from their own environment, so the program's own subprocesses
// do not inherit them.
const (
	envChildID  = "OVERSEER_CHILD_ID"   // the child's sequence number; its presence marks a child
	envBinID    = "OVERSEER_BIN_ID"     // SHA-256 of the binary, hex
	envBinPath  = "OVERSEER_BIN_PATH"   // the binary overseer runs and upgrades
	envNumFDs   = "OVERSEER_LISTEN_FDS" // listeners passed after the control channel
	envCheck    = "OVERSEER_BIN_CHECK"  // a token: this process is a sanity check
	envCheckFD  = "OVERSEER_CHECK_FD"   // the descriptor the check token is written to
	ctlFD       = 3                     // the control channel is always descriptor 3
	firstListFD = 4                     // listeners follow it
)

// isChild reports whether the master started this process.
func isChild() bool {
	return os.Getenv(envChildID) != ""
}
