package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// writeMachine writes a short description of the run's environment, so a
// table is never read without knowing where it came from.
func writeMachine(w io.Writer, title string) {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(w, "## %s\n\n", title)
	fmt.Fprintf(w, "%s · %d CPUs · %s · Linux %s · %s\n\n", time.Now().Format("2006-01-02 15:04 MST"),
		runtime.NumCPU(), runtime.Version(), strings.TrimSpace(string(kernel)), cpuModel())
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// save writes text to out/<name>-<timestamp>.md and out/<name>.md.
func save(outDir, name, text string) error {
	stamp := time.Now().Format("20060102-150405")
	for _, p := range []string{outDir + "/" + name + "-" + stamp + ".md", outDir + "/" + name + ".md"} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("\nwritten to %s/%s.md\n", outDir, name)
	return nil
}
