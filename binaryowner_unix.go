//go:build unix

package overseer

import (
	"io/fs"
	"os"
	"syscall"
)

// keptModeBits are the mode bits an upgrade carries over from the binary
// it replaces: the permissions, setuid, setgid and sticky.
const keptModeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// matchOwnerAndMode gives the staged binary at path the owner, group and
// mode bits of the binary on disk, just before it replaces it. The staged
// file belongs to the master's user until then and carries no setuid or
// setgid bit while it is checked.
//
// Changing the owner needs root (CAP_CHOWN) unless only the group changes
// to one the master's user belongs to. When the owner or group cannot be
// kept, the setuid and setgid bits are dropped too, so that the new binary
// never runs as an identity the old one did not; the log says so and what
// to do. Problems here are logged, never fatal: the upgrade proceeds.
func (b *binary) matchOwnerAndMode(path string) {
	cur, err := os.Stat(b.path)
	if err != nil {
		b.log.Warn("cannot read the running binary's owner and mode; the new binary keeps the mode it was staged with", "path", b.path, "err", err)
		return
	}
	mode := cur.Mode() & keptModeBits
	want, ok1 := cur.Sys().(*syscall.Stat_t)
	staged, err := os.Stat(path)
	have, ok2 := (*syscall.Stat_t)(nil), false
	if err == nil {
		have, ok2 = staged.Sys().(*syscall.Stat_t)
	}
	if ok1 && ok2 && (want.Uid != have.Uid || want.Gid != have.Gid) {
		if err := os.Lchown(path, int(want.Uid), int(want.Gid)); err != nil {
			if mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
				mode &^= fs.ModeSetuid | fs.ModeSetgid
				b.log.Warn("the new binary cannot keep the running binary's owner, so its setuid/setgid bits are dropped: run the master as root (or with CAP_CHOWN) to keep them, or restore owner and bits by hand",
					"uid", want.Uid, "gid", want.Gid, "master_uid", os.Geteuid(), "err", err)
			} else {
				b.log.Warn("the new binary cannot keep the running binary's owner and belongs to the master's user: run the master as root (or with CAP_CHOWN) to keep the owner",
					"uid", want.Uid, "gid", want.Gid, "master_uid", os.Geteuid(), "err", err)
			}
		}
	}
	// After chown: changing the owner clears setuid and setgid.
	if err := os.Chmod(path, mode); err != nil {
		b.log.Warn("cannot give the new binary the running binary's mode", "mode", mode, "err", err)
	}
}
