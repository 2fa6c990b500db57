package server

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

func TestSecretsDir_FallsBackToATempDirForTheSandboxOnly(t *testing.T) {
	t.Setenv("HOME", "") // os.UserHomeDir, tools' last resort, reads the process's own HOME
	none := func(string) string { return "" }
	_, err := (&Flags{}).defaultSecretsDir(none)
	require.Error(t, err, "the real server does not guess where secrets go")
	dir, err := (&Flags{sandbox: true}).defaultSecretsDir(none)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(dir)) })
	assert.True(t, strings.HasPrefix(dir, os.TempDir()), dir)
	fi, err := os.Stat(filepath.Dir(dir))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "a private directory")

	home := t.TempDir()
	dir, err = (&Flags{sandbox: true}).defaultSecretsDir(func(k string) string { return map[string]string{"HOME": home}[k] })
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(home, ".local", "state", "exoscale-keys-mcp", "secrets"), dir, "a home is used when there is one")
}

// TestCheck_AcceptsEveryServedTool: the early check knows the same tools the backend serves
// (the catalog's, the IAM policy tools and the workflows), so it refuses only real typos.
func TestCheck_AcceptsEveryServedTool(t *testing.T) {
	t.Parallel()
	full, err := Registry(nil, tools.Filter{})
	require.NoError(t, err)
	served := full.Tools()
	require.Greater(t, len(served), len(schemas.Catalog()), "the IAM policy tools are served too")
	for _, tool := range served {
		c := Flags{logLevel: "info", confirm: "none", confirmFallback: "deny", secretDelivery: "file", only: tool.Name, exclude: tool.Name, toolsets: tool.Toolset}
		assert.NoError(t, c.Check(), tool.Name)
	}
}

// TestNewBackend_AdviceFollowsTheServedTools: the backend tells the engine what it serves, so
// a 404 under --exclude-tools list-api-keys does not send the model to list-api-keys, and
// under --read-only a refused write points to no write tool.
func TestNewBackend_AdviceFollowsTheServedTools(t *testing.T) {
	t.Parallel()
	backend := func(args ...string) *Backend {
		t.Helper()
		var c Flags
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		c.Register(fs, func(string) string { return "" })
		require.NoError(t, fs.Parse(append([]string{"--sandbox", "--secret-delivery", "inline", "--log-level", "error"}, args...)))
		b, err := c.NewBackend(t.Context(), Options{Stderr: io.Discard, Getenv: func(string) string { return "" }, Transport: "test"})
		require.NoError(t, err)
		t.Cleanup(b.Close)
		return b
	}
	unknown := map[string]any{"id": "EXO0123456789abcdef01234567"}

	b := backend("--exclude-tools", "list-api-keys")
	assert.False(t, b.Engine.Serves("list-api-keys"))
	assert.True(t, b.Engine.Serves("get-api-key"))
	res, err := b.Engine.Call(t.Context(), "get-api-key", unknown)
	require.NoError(t, err)
	require.Equal(t, tools.Failed, res.Outcome, res.Text)
	assert.Contains(t, res.Text, "check the id")
	assert.NotContains(t, res.Text, "list-api-keys")

	b = backend("--read-only")
	for _, name := range []string{"update-iam-role-policy", "create-api-key", "check-iam-access"} {
		_, served := b.Registry.Tool(name)
		assert.Equal(t, served, b.Engine.Serves(name), name)
	}
	assert.False(t, b.Engine.Serves("create-api-key"))
}
