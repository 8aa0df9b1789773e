//go:build unix

package overseer

import (
	"runtime/debug"
	"runtime/metrics"
)

// memoryTrimmer keeps a master that has been through many restarts as
// small as a fresh one. Each restart leaves a little garbage (about 16 KiB:
// the child's environment, exec state, log records); left to itself the
// runtime would not collect it until the heap reached its 4 MiB minimum
// target, and would then keep the pages. Collecting and returning memory
// after every handover costs more than it saves (every collection touches
// collector state the master otherwise never needs), so the trimmer does it
// once the heap has allocated trimEvery bytes since the last time. The
// event loop owns it.
type memoryTrimmer struct {
	sample []metrics.Sample
	last   uint64 // cumulative heap allocations at the last trim
}

// trimEvery is how much a master allocates between two trims.
const trimEvery = 512 << 10

func newMemoryTrimmer() *memoryTrimmer {
	t := &memoryTrimmer{sample: []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}}
	t.last = t.allocated()
	return t
}

// allocated returns the bytes allocated on the heap since the process
// started.
func (t *memoryTrimmer) allocated() uint64 {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return t.sample[0].Value.Uint64()
}

// maybeTrim collects garbage and returns free memory to the OS, on a
// goroutine of its own, if enough was allocated since the last time.
func (t *memoryTrimmer) maybeTrim() {
	now := t.allocated()
	if now-t.last < trimEvery {
		return
	}
	t.last = now
	go debug.FreeOSMemory()
}
