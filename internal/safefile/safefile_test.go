//go:build unix

package safefile

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nobody is the uid a test gives a directory to make it foreign-owned (root only).
const nobody = 65534

func TestOpenAppend_CreatesPrivateFileAndAppends(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	for _, line := range []string{"one\n", "two\n"} {
		f, err := OpenAppend(path)
		require.NoError(t, err)
		_, err = f.WriteString(line)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one\ntwo\n", string(b))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0), fi.Mode().Perm()&0o077, "created without group or other access (mode %v)", fi.Mode().Perm())
}

func TestOpenAppend_RefusesSymlinkAndNonRegularFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("untouched\n"), 0o644))
	require.NoError(t, os.Chmod(target, 0o644))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))
	dangling := filepath.Join(dir, "dangling")
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), dangling))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))

	tests := []struct {
		name, path, want string
	}{
		{"symlink to a file", link, "symbolic link"},
		{"dangling symlink", dangling, "symbolic link"},
		{"directory", dir, "not a regular file (a directory)"},
		{"named pipe", fifo, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenAppend(tt.path)
			if f != nil {
				f.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.path)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	b, _ := os.ReadFile(target)
	assert.Equal(t, "untouched\n", string(b), "the link's target was not written")
	fi, _ := os.Stat(target)
	assert.Equal(t, fs.FileMode(0o644), fi.Mode().Perm(), "the link's target was not chmod'ed")
	_, err := os.Lstat(filepath.Join(dir, "nowhere"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "a dangling link did not create its target")
}

func TestCheckPrivateDir(t *testing.T) {
	t.Parallel()
	mk := func(t *testing.T, perm fs.FileMode) string {
		d := filepath.Join(t.TempDir(), "d")
		require.NoError(t, os.Mkdir(d, perm))
		require.NoError(t, os.Chmod(d, perm)) // umask-proof
		return d
	}
	t.Run("own 0700 passes", func(t *testing.T) {
		assert.NoError(t, CheckPrivateDir(mk(t, 0o700)))
	})
	t.Run("own 0755 passes (readable, not writable, by others)", func(t *testing.T) {
		assert.NoError(t, CheckPrivateDir(mk(t, 0o755)))
	})
	for _, perm := range []fs.FileMode{0o777, 0o770, 0o702} {
		t.Run("writable by group or others "+perm.String(), func(t *testing.T) {
			d := mk(t, perm)
			err := CheckPrivateDir(d)
			require.Error(t, err)
			assert.Contains(t, err.Error(), d)
			assert.Contains(t, err.Error(), "chmod 700")
		})
	}
	t.Run("symlink to a private directory", func(t *testing.T) {
		real := mk(t, 0o700)
		link := filepath.Join(t.TempDir(), "link")
		require.NoError(t, os.Symlink(real, link))
		err := CheckPrivateDir(link)
		require.Error(t, err)
		assert.Contains(t, err.Error(), link)
		assert.Contains(t, err.Error(), "symbolic link")
	})
	t.Run("a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(f, nil, 0o600))
		err := CheckPrivateDir(f)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not a directory")
	})
	t.Run("missing", func(t *testing.T) {
		err := CheckPrivateDir(filepath.Join(t.TempDir(), "missing"))
		require.Error(t, err)
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown a directory to another user (uid 65534); CI runs as root")
		}
		d := mk(t, 0o700)
		require.NoError(t, os.Chown(d, nobody, nobody))
		err := CheckPrivateDir(d)
		require.Error(t, err)
		assert.Contains(t, err.Error(), d)
		assert.Contains(t, err.Error(), "owned by uid 65534")
	})
}
