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
	msgReexec      = "reexec"  // ReexecMaster was called in the child
	maxControlLine = 4096
)

// isChild reports whether the master started this process.
func isChild() bool {
	return os.Getenv(envChildID) != ""
}

// The environment of a master's next image (see reexec_unix.go). A
// master that re-executes itself passes envReexec to the new image,
// which adopts what it describes; it first runs the new binary with
// envMasterCheck (a token) and envCheckFD, and the same envReexec, as a
// dry run of the master's start-up that answers like a sanity check.
const (
	envReexec      = "OVERSEER_REEXEC"       // a handover, JSON (below)
	envMasterCheck = "OVERSEER_MASTER_CHECK" // a token: this process is a dry run of a re-exec
)

// handoverVersion is the layout of envReexec. A master refuses a
// handover of a version it does not know, so a new field that an older
// master may ignore keeps the version; a change of meaning bumps it.
const handoverVersion = 1

// handover is what one image of the master passes to the next: the
// descriptors stay open across execve (their close-on-exec flag is
// cleared on exactly these), and this description says what they are.
type handover struct {
	Version   int          `json:"v"`
	Addresses []string     `json:"addresses"`         // Config.Addresses of the old image, in order
	Sockets   []int        `json:"sockets"`           // descriptors, one per address, in order
	Unlink    []handedPath `json:"unlink"`            // socket files to remove at stop
	NextID    int          `json:"next_id"`           // the last child sequence number used
	Child     *handedChild `json:"child"`             // the active child
	Reason    string       `json:"reason"`            // why the master re-executed, for logs
	Began     int64        `json:"began"`             // when the old image began the exec, Unix µs
	Fetcher   string       `json:"fetcher,omitempty"` // the fetcher's Checkpoint (fetcher.Resumable), if it has one
}

// handedPath is a Unix socket file the master created, removed when the
// service stops if it is still the same file (device and inode).
type handedPath struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
}

// handedChild is the active child the new image adopts.
type handedChild struct {
	ID      int    `json:"id"`
	PID     int    `json:"pid"`
	CtlFD   int    `json:"ctl_fd"` // the master's end of its control channel
	BinID   string `json:"bin_id"`
	Ready   bool   `json:"ready"`
	Started int64  `json:"started"` // Unix µs
}
