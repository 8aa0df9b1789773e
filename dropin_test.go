package overseer_test

import (
	"os/exec"
	"testing"
)

// TestDropInAPICompiles builds a program that uses the whole API of
// jpillora/overseer v1.1.6 with only its import path changed.
func TestDropInAPICompiles(t *testing.T) {
	out, err := exec.Command("go", "build", "-o", t.TempDir()+"/dropin", "./testdata/dropin").CombinedOutput()
	if err != nil {
		t.Fatalf("the drop-in program does not build: %v\n%s", err, out)
	}
}
