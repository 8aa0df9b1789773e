package fetcher

import (
	"encoding/json"
	"fmt"
)

// fileCheckpoint is File's Checkpoint: the stamps of the binary and the
// signature it last read to their end (or refused, or saw missing).
type fileCheckpoint struct {
	Bin fileStampJSON `json:"bin"`
	Sig fileStampJSON `json:"sig"`
}

type fileStampJSON struct {
	Exists  bool  `json:"exists"`
	Size    int64 `json:"size"`
	ModTime int64 `json:"mod_time"` // Unix nanoseconds
}

// Checkpoint implements Resumable.
func (f *File) Checkpoint() string {
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	b, _ := json.Marshal(fileCheckpoint{
		Bin: fileStampJSON{last.bin.exists, last.bin.size, last.bin.modTime},
		Sig: fileStampJSON{last.sig.exists, last.sig.size, last.sig.modTime},
	})
	return string(b)
}

// Resume implements Resumable: what the checkpoint saw counts as seen, in
// place of what Init found.
func (f *File) Resume(checkpoint string) error {
	var c fileCheckpoint
	if err := json.Unmarshal([]byte(checkpoint), &c); err != nil {
		return fmt.Errorf("fetcher.File: resume: %w", err)
	}
	f.commit(releaseStamp{
		bin: fileStamp{c.Bin.Exists, c.Bin.Size, c.Bin.ModTime},
		sig: fileStamp{c.Sig.Exists, c.Sig.Size, c.Sig.ModTime},
	})
	return nil
}
