package overseer_test

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuietByDefault: without Debug, a service that starts, restarts and
// stops prints nothing of overseer's, as jpillora/overseer does.
func TestQuietByDefault(t *testing.T) {
	s := startService(t, options{env: []string{"APP_DEBUG="}})
	s.restartAndWait(s.mustGet("/").pid)
	s.signal(syscall.SIGTERM)
	if code := s.wait(10 * time.Second); code != 0 {
		t.Fatalf("master exited %d", code)
	}
	if out := strings.TrimSpace(s.log()); out != "" {
		t.Errorf("printed with Debug off:\n%s", out)
	}
}
