package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// End to end over stdio with the official SDK client: the agent-facing fixes of issue 10 as a
// model meets them.

func TestInstructions_FollowTheServedTools(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ro := env.startStdio(t, nil, nil, "--read-only").session.InitializeResult().Instructions
	assert.NotContains(t, ro, "create")
	assert.NotContains(t, ro, "dry-run")
	assert.Contains(t, ro, "list-*")
	keysOnly := env.startStdio(t, nil, nil, "--toolsets", "api-keys").session.InitializeResult().Instructions
	assert.NotContains(t, keysOnly, "create-iam-role", "the roles toolset is not served")
	assert.Contains(t, keysOnly, "dry-run")
}

func TestUnknownTool_ModelReadsTheNearestNames(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil, "--read-only")
	msg := s.fails(t, "list-api-key", nil)
	assert.Contains(t, msg, "Did you mean list-api-keys")
	msg = s.fails(t, "delete-api-key", map[string]any{"id": env.key})
	assert.Contains(t, msg, "not served here")
	assert.Zero(t, env.sb.Requests("DELETE", ""))
}

// TestDeleteKey_RevokesItsSecretFileAndIsIdempotent: the file the server wrote for a key is
// renamed .revoked when the key is deleted; deleting it again succeeds and says nothing was
// deleted; neither result points at the deleted key's get tool.
func TestDeleteKey_RevokesItsSecretFileAndIsIdempotent(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil)
	created := s.ok(t, "create-api-key", map[string]any{"name": "e2e-revoke", "role-id": sandbox.RestrictedRoleID})
	key, file := str(created, "key"), str(created, "secret-file")
	require.FileExists(t, file)

	out := s.ok(t, "delete-api-key", map[string]any{"id": key})
	assert.Equal(t, key, str(out, "deleted"))
	assert.Equal(t, []any{file + ".revoked"}, out["secret-files-revoked"])
	assert.NoFileExists(t, file)
	_, err := os.Stat(file + ".revoked")
	assert.NoError(t, err)

	res := s.call(t, "delete-api-key", map[string]any{"id": key})
	require.False(t, res.IsError, text(res))
	assert.Contains(t, text(res), "Already deleted")
	assert.Contains(t, text(res), "deleted nothing")
	assert.NotContains(t, text(res), "get-api-key")
	assert.False(t, strings.Contains(text(res), "check the id"))
}
