// Package safefile opens and checks the files and directories the server keeps its records and
// secrets in, so that a link or a directory planted by another user cannot redirect them.
//
// The threat is a local one: an MCP host starts the server in a directory it does not control
// (a cloned repository, a shared /tmp), or a root server is pointed at a path another user can
// write. A symlink there would make the server append to, or chmod, a file of the attacker's
// choosing; a directory another user can write lets that user replace what the server wrote.
package safefile

import (
	"errors"
	"fmt"
	"os"
)

// OpenAppend opens path for appending, creating it with mode 0600 when missing. It refuses a
// symlink (O_NOFOLLOW: the final component is never followed) and anything that is not a
// regular file (a FIFO would block the server, a device would take the writes). An existing
// file keeps its mode: the caller decides whether to tighten it.
func OpenAppend(path string) (*os.File, error) {
	// O_NONBLOCK keeps the open of a FIFO from blocking until a reader comes; it has no effect
	// on a regular file, which is all we accept.
	// Checked first for a clear message everywhere; O_NOFOLLOW closes the race on unix.
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			return nil, symlinkError(path)
		case !fi.Mode().IsRegular():
			return nil, notRegularError(path, fi.Mode())
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|openFlags, 0o600)
	if err != nil {
		if isSymlinkErr(path, err) {
			return nil, symlinkError(path)
		}
		return nil, fmt.Errorf("opening %s: %w", path, unwrapPath(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegularError(path, fi.Mode())
	}
	return f, nil
}

// CheckPrivateDir refuses a directory that is not the server's own: path must be a directory
// (not a symbolic link to one), owned by the effective user, and not writable by group or
// others. It does not create the directory: a missing one is an error for the caller to
// handle (os.IsNotExist / errors.Is(err, fs.ErrNotExist) hold).
//
// A directory readable (but not writable) by others passes: the caller may tighten it, since
// it owns it.
func CheckPrivateDir(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("checking directory %s: %w", path, err)
	}
	mode := fi.Mode()
	switch {
	case mode&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: refusing it, since whoever controls the link chooses where the files go; use the real directory path, or remove the link", path)
	case !mode.IsDir():
		return fmt.Errorf("%s is not a directory (%s): point the option at a directory", path, kind(mode))
	}
	if uid, ok := owner(fi); ok {
		if euid := os.Geteuid(); uid != euid {
			return fmt.Errorf("directory %s is owned by uid %d, not by this server's user (uid %d): another user could replace its files; use a directory of your own, or run chown %d %s if it is yours", path, uid, euid, euid, path)
		}
	}
	if mode.Perm()&0o022 != 0 {
		return fmt.Errorf("directory %s is writable by group or others (mode %04o): another user could replace its files; run chmod 700 %s", path, mode.Perm(), path)
	}
	return nil
}

func symlinkError(path string) error {
	return fmt.Errorf("%s is a symbolic link: refusing to follow it; point the option at a regular file (remove the link, or use the path it points to)", path)
}

func notRegularError(path string, m os.FileMode) error {
	return fmt.Errorf("%s is not a regular file (%s): point the option at a regular file", path, kind(m))
}

// kind names a non-regular file mode for an error message.
func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}

// unwrapPath drops the *os.PathError wrapper, whose text repeats the path the caller already
// names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
