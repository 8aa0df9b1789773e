package overseer

import "time"

// EventKind names a lifecycle event.
type EventKind string

// Lifecycle events, in the order a restart produces them.
const (
	// EventChildStarted: a child process started (Event.ChildID, PID, BinaryID).
	EventChildStarted EventKind = "child-started"
	// EventChildReady: a child reported ready (Duration: since it started).
	EventChildReady EventKind = "child-ready"
	// EventChildDraining: a child was told to drain.
	EventChildDraining EventKind = "child-draining"
	// EventChildExited: a child exited (Code: its exit code, 128+N for
	// signal N; Duration: since it was told to drain, if it was).
	EventChildExited EventKind = "child-exited"
	// EventRestartBegun: a restart started a new child (Reason says why).
	EventRestartBegun EventKind = "restart-begun"
	// EventRestartCompleted: the new child is ready and active (Duration:
	// the handover, from the start of the restart).
	EventRestartCompleted EventKind = "restart-completed"
	// EventRestartFailed: the new child exited or was not ready in time;
	// the previous child keeps serving (Err says why).
	EventRestartFailed EventKind = "restart-failed"
	// EventUpgradeFound: the fetcher delivered a binary that differs from
	// the running one (BinaryID: its SHA-256).
	EventUpgradeFound EventKind = "upgrade-found"
	// EventUpgradeVerified: the binary passed every check (signature,
	// checksum, PreUpgrade, sanity check).
	EventUpgradeVerified EventKind = "upgrade-verified"
	// EventUpgradeRejected: the binary failed a check and is quarantined,
	// or could not be downloaded (Err says which).
	EventUpgradeRejected EventKind = "upgrade-rejected"
	// EventUpgradeApplied: the binary was installed in place of the running
	// one.
	EventUpgradeApplied EventKind = "upgrade-applied"
	// EventUpgradeRolledBack: the restart into the new binary failed, or
	// the release failed its probation (a child exited, or its health
	// check failed; Err says which); the previous binary is back on disk,
	// the new one quarantined, and a child of the previous one serves.
	EventUpgradeRolledBack EventKind = "upgrade-rolled-back"
	// EventHealthCheckFailed: a health check of the release on probation
	// failed (BinaryID: the release; Err: why).
	EventHealthCheckFailed EventKind = "health-check-failed"
	// EventUpgradeProven: the release finished its probation (BinaryID);
	// it is now the one a rollback returns to.
	EventUpgradeProven EventKind = "upgrade-proven"
	// EventMasterReexec: the master re-executed itself in place and
	// adopted the running child (BinaryID: the binary it now runs;
	// Duration: how long the master was away; Reason says why).
	EventMasterReexec EventKind = "master-reexec"
	// EventMasterReexecFailed: a re-exec of the master was refused (its
	// dry run failed) or execve failed (Err); the master keeps running
	// the old binary and the child is untouched.
	EventMasterReexecFailed EventKind = "master-reexec-failed"
	// EventCrashRestart: under a CrashPolicy, a child that crashed is about
	// to be replaced (Duration: the backoff before the new start).
	EventCrashRestart EventKind = "crash-restart"
)

// Event is one thing that happened to the service, as seen by the master.
// Fields that do not apply to a kind are zero.
type Event struct {
	Kind     EventKind
	Time     time.Time
	ChildID  int           // overseer's sequence number of the child
	PID      int           // the child's process ID
	BinaryID string        // SHA-256 of the binary concerned, hex
	Duration time.Duration // see each kind
	Code     int           // exit code, for EventChildExited
	Reason   string        // what caused it, for restarts
	Err      error         // what went wrong, for failures and rejections
}
