//go:build !unix

package overseer

// answerMasterCheck: there is no master to re-execute here.
func answerMasterCheck(*Config) bool { return false }
