//go:build unix

package safefile

import (
	"errors"
	"io/fs"
	"syscall"
)

// openFlags: O_NOFOLLOW refuses a symbolic link as the final component; O_NONBLOCK keeps the
// open of a FIFO from blocking until a reader comes (no effect on a regular file, the only kind
// accepted).
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// isSymlinkErr reports whether an open failed because path is a symbolic link (ELOOP under
// O_NOFOLLOW).
func isSymlinkErr(_ string, err error) bool { return errors.Is(err, syscall.ELOOP) }

// owner returns the uid that owns fi.
func owner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
