package manifest

import (
	"os"
	"strings"
	"testing"
)

// TestDocumentedExample: the example in docs/manifest.md is a valid
// manifest.
func TestDocumentedExample(t *testing.T) {
	b, err := os.ReadFile("../docs/manifest.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```json\n")
	if !ok {
		t.Fatal("no json block in docs/manifest.md")
	}
	example, _, _ := strings.Cut(rest, "```")
	m, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rollout == nil || m.Rollout.Percent != 10 || len(m.Assets) != 2 {
		t.Fatalf("parsed %+v", m)
	}
}
