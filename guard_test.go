package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// next returns the server's next output line, or fails the test.
func (r *rawStdio) next(t *testing.T, what string) string {
	t.Helper()
	select {
	case line, ok := <-r.lines:
		require.True(t, ok, "the server stopped before %s\nstderr:\n%s", what, r.stderr.String())
		return line
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s\nstderr:\n%s", what, r.stderr.String())
	}
	return ""
}

// initialized starts the raw stdio server and completes the MCP handshake.
func initialized(t *testing.T, env *testEnv) *rawStdio {
	t.Helper()
	r := env.startRawStdio(t)
	r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"guard","version":"1"}}}`)
	require.Contains(t, r.next(t, "answer to initialize"), `"id":1`)
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return r
}

type rpcAnswer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// A tool call that says "dry-run" twice reads as a dry run to whoever keeps the first key and
// as the real thing to Go's decoder: it is refused whole, and nothing reaches Exoscale.
func TestStdio_DuplicateDryRunKeyIsRefusedAndNothingSent(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	var victim string
	for _, k := range env.sb.State().APIKeys {
		if k.Name != sandbox.ServerKeyName {
			victim = k.Key
		}
	}
	require.NotEmpty(t, victim, "the seeded sandbox has a key besides the server's")
	r := initialized(t, env)
	before, keysBefore := env.sb.Requests("", ""), env.sb.State().APIKeys

	r.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete-api-key","arguments":{"id":"`+victim+`","dry-run":true,"dry-run":false}}}`)
	var a rpcAnswer
	require.NoError(t, json.Unmarshal([]byte(r.next(t, "answer to the call")), &a))
	assert.JSONEq(t, `2`, string(a.ID))
	require.NotNil(t, a.Error, "a JSON-RPC error, not a result")
	assert.Equal(t, -32600, a.Error.Code)
	assert.Contains(t, a.Error.Message, "params.arguments.dry-run")

	// The stream goes on, and the refused call never ran: no request, no change.
	r.send(t, `{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	a = rpcAnswer{}
	require.NoError(t, json.Unmarshal([]byte(r.next(t, "answer to ping")), &a))
	assert.JSONEq(t, `3`, string(a.ID))
	assert.Nil(t, a.Error)
	assert.Equal(t, before, env.sb.Requests("", ""), "no request reached the sandbox")
	assert.Equal(t, keysBefore, env.sb.State().APIKeys)
}

// A line without a newline must not grow the server without bound: past the limit it is
// discarded, answered with a parse error, and the next line is served.
func TestStdio_OversizedLineIsRefusedAndTheStreamGoesOn(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	r := initialized(t, env)
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 5 { // 5 MiB, past the 4 MiB limit
		_, err := r.in.Write(chunk)
		require.NoError(t, err)
	}
	r.send(t, "")
	var a rpcAnswer
	require.NoError(t, json.Unmarshal([]byte(r.next(t, "answer to the long line")), &a))
	assert.JSONEq(t, `null`, string(a.ID))
	require.NotNil(t, a.Error)
	assert.Equal(t, -32700, a.Error.Code)
	assert.Contains(t, a.Error.Message, "longer than 4194304 bytes")

	r.send(t, `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`)
	a = rpcAnswer{}
	require.NoError(t, json.Unmarshal([]byte(r.next(t, "answer to tools/list")), &a))
	assert.JSONEq(t, `4`, string(a.ID))
	assert.Nil(t, a.Error)
}

// The files the server writes are refused at start-up when another user could redirect them.
func TestStartup_RefusesLinkedAuditLogAndSharedSecretsDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("keep\n"), 0o644))
	require.NoError(t, os.Chmod(target, 0o644))
	link := filepath.Join(dir, "audit.log")
	require.NoError(t, os.Symlink(target, link))
	linkedDir := filepath.Join(dir, "linked-secrets")
	require.NoError(t, os.Symlink(t.TempDir(), linkedDir))
	shared := filepath.Join(dir, "shared")
	require.NoError(t, os.Mkdir(shared, 0o777))
	require.NoError(t, os.Chmod(shared, 0o777))

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"audit log through a link", []string{"--audit-log", link}, []string{link, "symbolic link"}},
		{"secrets dir through a link", []string{"--secrets-dir", linkedDir}, []string{linkedDir, "symbolic link"}},
		{"secrets dir writable by others", []string{"--secrets-dir", shared}, []string{shared, "chmod 700"}},
	}
	// The review's case: a root server adopting a 0777 directory owned by nobody. Only root can
	// give a directory away; CI runs as root.
	if os.Geteuid() == 0 {
		foreign := filepath.Join(dir, "foreign")
		require.NoError(t, os.Mkdir(foreign, 0o700))
		require.NoError(t, os.Chown(foreign, 65534, 65534))
		tests = append(tests, struct {
			name string
			args []string
			want []string
		}{"secrets dir owned by another user", []string{"--secrets-dir", foreign}, []string{foreign, "owned by uid 65534"}})
	} else {
		t.Log("not root: the foreign-owned secrets directory case needs root to chown (CI runs as root)")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"stdio", "--sandbox"}, tt.args...), strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
			assert.Equal(t, 1, code)
			for _, w := range tt.want {
				assert.Contains(t, stderr.String(), w)
			}
		})
	}
	b, _ := os.ReadFile(target)
	assert.Equal(t, "keep\n", string(b))
	fi, _ := os.Stat(target)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the link's target was not chmod'ed")
}
