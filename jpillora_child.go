package overseer

import "os"

// A binary built with this library may be started by a jpillora/overseer
// (v1) master as its child: that is how a running jpillora fleet moves to
// this library, by publishing the rebuilt binary to the URL its fetcher
// polls. The v1 master then sanity-checks the binary (the token on
// stdout, answered by answerSanityCheck), installs it and starts it with
// its own child contract, which this process must honour until the next
// full restart, when the binary starts as this library's master:
//
//   - environment: OVERSEER_IS_SLAVE=1, OVERSEER_SLAVE_ID (a sequence
//     number), OVERSEER_NUM_FDS (how many listeners), OVERSEER_BIN_ID (a
//     SHA-1 of the binary) and OVERSEER_BIN_PATH;
//   - descriptors: the TCP listeners from fd 3 on, no control channel;
//   - signals: the master sends its restart signal (SIGUSR2 unless its
//     Config said otherwise) to make the child drain, and proxies every
//     other signal it gets (SIGTERM, SIGINT) to the child; the child sends
//     SIGUSR1 to the master once it stops accepting, and the master then
//     starts the next child; the child asks for a restart by sending the
//     master the restart signal;
//   - the master has no notion of readiness, and a child whose master is
//     gone is expected to exit.
//
// The environment of a v1 child; names are jpillora/overseer's.
const (
	envV1IsChild = "OVERSEER_IS_SLAVE" // "1" in a v1 child
	envV1ChildID = "OVERSEER_SLAVE_ID" // the child's sequence number
	envV1NumFDs  = "OVERSEER_NUM_FDS"  // listeners from fd 3 on
	v1FirstFD    = 3                   // the first listener's descriptor
)

// isV1Child reports whether a jpillora/overseer (v1) master started this
// process as its child. This library's own children are told apart by
// their own variable, which a v1 master never sets.
func isV1Child() bool {
	return os.Getenv(envV1IsChild) == "1" && !isChild()
}
