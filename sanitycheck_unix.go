//go:build unix

package overseer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// checkBinary runs the binary at path as overseer's sanity check: it must
// start, recognise the check, write the token it was given to the check
// descriptor, and exit 0, all within timeout. Its own output is kept (the
// last few KiB) for the error message.
func checkBinary(path string, timeout time.Duration) error {
	token := newToken()
	return runCheck("sanity check", path, timeout, token, envCheck+"="+token)
}

// runCheck runs the binary at path with this process's arguments and
// env added to its environment, and waits for it to write token to
// descriptor 3 (envCheckFD) and exit 0 within timeout. what names the
// check in errors.
func runCheck(what, path string, timeout time.Duration, token string, env ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%s: pipe: %w", what, err)
	}
	defer r.Close()
	output := &tailBuffer{max: 4 << 10}
	cmd := exec.CommandContext(ctx, path, os.Args[1:]...)
	cmd.Env = append(append(childlessEnviron(), env...), fmt.Sprintf("%s=%d", envCheckFD, ctlFD))
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = output, output
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = checkSysProcAttr()
	err = startRetryingTextBusy(cmd)
	w.Close()
	if err != nil {
		return fmt.Errorf("%s: cannot execute %s: %w", what, path, err)
	}
	ownPids.add(cmd.Process.Pid)
	defer ownPids.remove(cmd.Process.Pid)
	answer := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, int64(len(token))+1))
		answer <- b
	}()
	waitErr := cmd.Wait()
	var got []byte
	select {
	case got = <-answer:
	case <-time.After(time.Second):
		// A grandchild holds the write end open; the process itself is gone.
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %s did not answer within %s (does it call overseer.Run or overseer.SanityCheck before blocking?)%s", what, path, timeout, output.describe())
	case waitErr != nil:
		return fmt.Errorf("%s: %s failed: %w%s", what, path, waitErr, output.describe())
	case string(got) != token:
		return fmt.Errorf("%s: %s exited without answering (is it built with overseer, and does it call overseer.Run?)%s", what, path, output.describe())
	}
	return nil
}

// startRetryingTextBusy starts cmd, retrying briefly while the kernel
// reports the file busy (see isTextBusy).
func startRetryingTextBusy(cmd *exec.Cmd) error {
	var err error
	for i := 0; i < 10; i++ {
		if err = cmd.Start(); !isTextBusy(err) {
			return err
		}
		time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
	}
	return err
}

// newToken returns a random token for one sanity check.
func newToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("overseer: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// childlessEnviron is this process's environment without overseer's own
// variables.
func childlessEnviron() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "OVERSEER_") {
			out = append(out, kv)
		}
	}
	return out
}

// tailBuffer keeps the last max bytes written to it. It is safe for
// concurrent use (exec copies stdout and stderr from two goroutines).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// Write keeps the tail of p.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// describe renders the captured output for an error message.
func (t *tailBuffer) describe() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := bytes.TrimSpace(t.buf)
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf("; its output ends with: %q", out)
}
