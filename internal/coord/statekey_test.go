package coord

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadStateKey(t *testing.T) {
	t.Parallel()
	good := "k3Jx9Qm2Lz8Wv4Rt6Yp1Hs5Nd7Fb0Gc2Ae4Ui6Oo8=" // 44 bytes
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string // "" for success, else part of the error
	}{
		{"0600 with newline", good + "\n", 0o600, ""},
		{"0400", good, 0o400, ""},
		{"group-readable (Kubernetes fsGroup)", good, 0o440, ""},
		{"world-readable", good, 0o644, "mode 0644 lets others read it"},
		{"group-writable", good, 0o660, "mode 0660"},
		{"too short", "0123456789abcdef0123456789abcde\n", 0o600, "31 bytes; expected at least 32"},
		{"one byte repeated", strings.Repeat("a", 40), 0o600, "repeats one byte"},
		{"too long", strings.Repeat("ab", 3000), 0o600, "more than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.key")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			require.NoError(t, os.Chmod(path, tt.mode))
			key, err := LoadStateKey(path)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Equal(t, good, string(key))
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "--state-key-file")
			assert.NotContains(t, err.Error(), tt.content[:20], "the error never quotes the key")
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := LoadStateKey(filepath.Join(t.TempDir(), "nope"))
		assert.ErrorContains(t, err, "--state-key-file")
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o700))
		_, err := LoadStateKey(dir)
		assert.ErrorContains(t, err, "expected a regular file")
	})
}
