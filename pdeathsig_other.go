//go:build !linux

package overseer

import "syscall"

// childSysProcAttr has no parent-death signal outside Linux; children
// notice the master's death by the end of their control channel instead.
// (Only Unix starts children; elsewhere this is unused.)
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}

// checkSysProcAttr has no parent-death signal outside Linux: a check under
// way when the master dies ends at its own pace.
func checkSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}

// onMainThread: without a parent-death signal, which thread starts a
// child does not matter.
func onMainThread() bool { return true }
