//go:build !unix

package safefile

import (
	"io/fs"
	"os"
)

// openFlags: no O_NOFOLLOW outside unix; OpenAppend checks for a link before opening instead.
const openFlags = 0

// isSymlinkErr reports whether path is a symbolic link (checked after a failed open).
func isSymlinkErr(path string, _ error) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

// owner is unknown outside unix: file ownership there is an ACL, not a uid.
func owner(fs.FileInfo) (int, bool) { return 0, false }
