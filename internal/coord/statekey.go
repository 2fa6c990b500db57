package coord

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// MinStateKeyLen is the shortest key LoadStateKey accepts: HMAC-SHA256 gains nothing from more,
// and loses strength with less.
const MinStateKeyLen = 32

// maxStateKeyLen bounds the read: a key file is small, and a path to a device or a log is a
// mistake.
const maxStateKeyLen = 4096

// LoadStateKey reads the key that seals confirmation state (--state-key-file), shared by every
// replica so that a confirmation asked on one completes on another. The key is the file's bytes
// less a trailing newline, at least 32 of them (`openssl rand -base64 48 > state.key` makes
// one). It refuses a file that others can read or that its group can write: the key forges
// confirmations. A group-readable file is accepted, as Kubernetes mounts a Secret with fsGroup.
// Errors name the file, never its content.
func LoadStateKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--state-key-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("--state-key-file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("--state-key-file %s: expected a regular file, got %s", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return nil, fmt.Errorf("--state-key-file %s: mode %04o lets others read it or its group change it; expected 0600 or 0400 (or 0440 with a group of its own): chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxStateKeyLen+1))
	if err != nil {
		return nil, fmt.Errorf("--state-key-file %s: %w", path, err)
	}
	if len(b) > maxStateKeyLen {
		return nil, fmt.Errorf("--state-key-file %s: more than %d bytes; expected a key of %d to %d bytes", path, maxStateKeyLen, MinStateKeyLen, maxStateKeyLen)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < MinStateKeyLen {
		return nil, fmt.Errorf("--state-key-file %s: %d bytes; expected at least %d (openssl rand -base64 48 > %s)", path, len(b), MinStateKeyLen, path)
	}
	if bytes.Count(b, b[:1]) == len(b) {
		return nil, fmt.Errorf("--state-key-file %s: the key repeats one byte; expected random bytes (openssl rand -base64 48 > %s)", path, path)
	}
	return b, nil
}
