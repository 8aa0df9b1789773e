//go:build unix

package overseer

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/seed-710818af/overseer/internal/sockets"
)

// processReexecer re-executes the real master process (see reexec_unix.go
// for when).
type processReexecer struct {
	binPath string
	sockets *socketSet
	spawner *spawner
	inbox   chan<- loopMsg
	timeout time.Duration // the dry run's, SanityCheckTimeout
	sigs    chan os.Signal
	signals []os.Signal // what sigs is notified of
	keepEnv []string    // variables the master took out of its environment that the next image needs (systemd's)
	sink    *eventSink  // flushed before the exec
}

// startCheck dry-runs the binary's master start-up on a goroutine of its
// own and reports to the loop.
func (r *processReexecer) startCheck(h *handover, id string) {
	go func() {
		err := checkMaster(r.binPath, r.timeout, h)
		r.inbox <- reexecCheckedMsg{id: id, err: err}
	}()
}

// exec clears close-on-exec on the sockets and c's control channel,
// ignores the master's signals across the exec (a signal that arrived
// between the new image's start and its signal.Notify would otherwise
// kill it: the new image takes them over at once, see
// reexecinit_unix.go), and execs the binary on the spawner's thread. On
// failure it puts all of that back.
func (r *processReexecer) exec(h *handover, c *childProcess) error {
	if c.ctl == nil {
		return fmt.Errorf("child %d has no control channel to hand over", c.id)
	}
	fds, files, err := r.sockets.set.Inheritable()
	if err != nil {
		return err
	}
	defer r.sockets.set.Restore()
	h.Sockets = fds
	for _, f := range files {
		h.Unlink = append(h.Unlink, handedPath{Path: f.Path, Dev: f.Dev, Ino: f.Ino})
	}
	if h.Child.CtlFD, err = sockets.SetCloseOnExec(c.ctl, false); err != nil {
		return fmt.Errorf("control channel of child %d: %w", c.id, err)
	}
	defer func() { _, _ = sockets.SetCloseOnExec(c.ctl, true) }()
	desc, err := marshalHandover(h)
	if err != nil {
		return err
	}
	env := append(environWithout(envReexec, envMasterCheck), r.keepEnv...)
	env = append(env, envReexec+"="+desc)
	r.sink.flush(time.Second)
	signal.Ignore(r.signals...)
	err = r.spawner.exec(func() error { return syscall.Exec(r.binPath, os.Args, env) })
	signal.Notify(r.sigs, r.signals...)
	return fmt.Errorf("execve %s: %w", r.binPath, err)
}

// environWithout is this process's environment without the named
// variables.
func environWithout(names ...string) []string {
	var out []string
next:
	for _, kv := range os.Environ() {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// keptEnviron returns the named variables that are set, as KEY=VALUE,
// before the master removes them from its environment.
func keptEnviron(names ...string) []string {
	var out []string
	for _, n := range names {
		if v, ok := os.LookupEnv(n); ok {
			out = append(out, n+"="+v)
		}
	}
	return out
}
