//go:build unix

package overseer

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Both sides of the dry run of a master re-exec (see reexec_unix.go): the
// running master runs the binary on disk with envMasterCheck, and that
// process starts as a master would up to the point where it would adopt
// the handover, then answers like a sanity check and exits.

// checkMaster dry-runs the master start-up of the binary at path with
// handover h, within timeout.
func checkMaster(path string, timeout time.Duration, h *handover) error {
	desc, err := marshalHandover(h)
	if err != nil {
		return err
	}
	token := newToken()
	return runCheck("master dry run", path, timeout, token, envMasterCheck+"="+token, envReexec+"="+desc)
}

// answerMasterCheck runs the dry run if this process was started for one,
// and reports whether it was; a dry run that fails exits 1 with the
// reason on standard error.
func answerMasterCheck(c *Config) bool {
	token := os.Getenv(envMasterCheck)
	if token == "" {
		return false
	}
	if err := dryRunMaster(c); err != nil {
		fmt.Fprintf(os.Stderr, "overseer: master dry run: %v\n", err)
		os.Exit(1)
	}
	fd, err := strconv.Atoi(os.Getenv(envCheckFD))
	if err != nil || fd <= 2 {
		fmt.Fprintln(os.Stderr, "overseer: master dry run: no answer descriptor")
		os.Exit(1)
	}
	out := os.NewFile(uintptr(fd), "overseer-check")
	fmt.Fprint(out, token)
	return true
}

// dryRunMaster is what a re-executed master does before it adopts
// anything, without opening, adopting or starting anything: its Config
// is already validated; the handover must parse and fit its addresses;
// its binary must be readable and its public key usable.
func dryRunMaster(c *Config) error {
	h, err := parseHandover(os.Getenv(envReexec))
	if err != nil {
		return err
	}
	if err := fitsAddresses(c, h); err != nil {
		return err
	}
	if _, err := newVerifier(c.PublicKey); err != nil && c.Fetcher != nil {
		return fmt.Errorf("upgrades would be disabled: %w", err)
	}
	if _, err := currentBinary(c.Logger); err != nil {
		return err
	}
	return nil
}

// fitsAddresses reports whether the inherited sockets can serve c: one
// per configured address. A changed address (same count) does not stop a
// re-exec: the inherited socket is kept, and the new image logs it.
func fitsAddresses(c *Config, h *handover) error {
	if len(h.Addresses) != len(c.Addresses) {
		return fmt.Errorf("Config.Addresses has %d entries, the running master %d: addresses cannot change across a re-exec (restart the service to change them)", len(c.Addresses), len(h.Addresses))
	}
	if h.Child == nil {
		return errors.New("the handover names no child")
	}
	return nil
}
