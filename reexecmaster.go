package overseer

import "sync/atomic"

// reexecRequester is where ReexecMaster sends its request: the master's
// event loop, or a child's control channel; like restarter, package
// state forced by a package-level function.
var reexecRequester atomic.Pointer[func()]

// setReexecRequester installs f as the target of ReexecMaster.
func setReexecRequester(f func()) { reexecRequester.Store(&f) }

// ReexecMaster asks the master to re-execute itself, in place, on the
// binary now on disk: same PID, same sockets, and the running child is
// adopted by the new master image rather than restarted, so no request
// is touched. It is for deployments that replace the binary themselves;
// after an upgrade overseer installed, the master does this on its own
// once the release is proven (see Config.NoMasterReexec).
//
// The master first runs the binary on disk in a dry run of its start-up
// (it must start, accept the Config and the description of what is
// handed over, and answer); if that or the execve fails, the master keeps
// running as it was and logs why. The re-exec waits for a restart under
// way, an old child still draining, and a release on probation. Called in
// a child, it asks the master over the control channel; outside overseer,
// and where the platform has no master (Windows), it does nothing.
func ReexecMaster() {
	if f := reexecRequester.Load(); f != nil {
		(*f)()
	}
}
