package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// sandboxProc is a running `exoscale-keys-mcp sandbox` process and what it printed.
type sandboxProc struct {
	cmd      *exec.Cmd
	stderr   *syncBuffer
	exited   chan struct{}
	exitErr  error
	banner   []string
	endpoint string
	key      string
	secret   string
}

// startSandboxProc spawns the binary's sandbox command on a free loopback port and reads its
// banner up to the last export line. Cleanup stops it if the test did not.
func startSandboxProc(t *testing.T, args ...string) *sandboxProc {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"sandbox", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	p := &sandboxProc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.exitErr = cmd.Wait() // after the last read, as os/exec requires
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })

	timeout := time.After(30 * time.Second)
	for p.secret == "" {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "the sandbox exited before printing its credentials:\n%s\nstderr:\n%s", strings.Join(p.banner, "\n"), p.stderr.String())
			p.banner = append(p.banner, line)
			if v, ok := strings.CutPrefix(line, "export EXOSCALE_API_ENDPOINT="); ok {
				p.endpoint = v
			}
			if v, ok := strings.CutPrefix(line, "export EXOSCALE_API_KEY="); ok {
				p.key = v
			}
			if v, ok := strings.CutPrefix(line, "export EXOSCALE_API_SECRET="); ok {
				p.secret = v
			}
		case <-timeout:
			t.Fatalf("no credentials printed within 30 s:\n%s\nstderr:\n%s", strings.Join(p.banner, "\n"), p.stderr.String())
		}
	}
	go func() { // keep draining, so the process never blocks on a full pipe
		for range lines {
		}
	}()
	return p
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (p *sandboxProc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
		assert.NoError(t, p.exitErr, "the sandbox exits cleanly on SIGTERM; stderr:\n%s", p.stderr.String())
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("the sandbox did not stop on SIGTERM; stderr:\n%s", p.stderr.String())
	}
}

func TestSandboxCommand_ServesAServerAndResumesFromItsStateFile(t *testing.T) {
	t.Parallel()
	statePath := filepath.Join(t.TempDir(), "sandbox-state.json")
	first := startSandboxProc(t, "--state", statePath)
	banner := strings.Join(first.banner, "\n")
	assert.Contains(t, banner, "endpoint: "+first.endpoint)
	assert.Contains(t, banner, "sandbox credentials")
	assert.Contains(t, banner, sandbox.RestrictedKeyName, "the seeded restricted key is shown too")
	require.True(t, strings.HasPrefix(first.endpoint, "http://127.0.0.1:") && strings.HasSuffix(first.endpoint, "/v2"), first.endpoint)

	// A second process, the MCP server, pointed at it over EXOSCALE_API_ENDPOINT with the
	// printed credentials.
	env := &testEnv{endpoint: first.endpoint, key: first.key, secret: first.secret, state: t.TempDir()}
	srv := env.startStdio(t, nil, nil)
	listed := srv.ok(t, "list-api-keys", nil)
	assert.ElementsMatch(t, []string{sandbox.ServerKeyName, sandbox.RestrictedKeyName}, names(listed["api-keys"], "name"))
	created := srv.ok(t, "create-api-key", map[string]any{"name": "made-before-restart", "role-id": sandbox.RestrictedRoleID})
	createdKey := str(created, "key")
	require.NotEmpty(t, createdKey)
	require.NoError(t, srv.session.Close())

	first.stop(t)
	info, err := os.Stat(statePath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the state file holds secrets")
	leftovers, err := filepath.Glob(filepath.Join(filepath.Dir(statePath), ".*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, leftovers, "no temporary file left behind")

	second := startSandboxProc(t, "--state", statePath)
	assert.Equal(t, first.key, second.key, "the server credential survives the restart")
	assert.Equal(t, first.secret, second.secret)
	env2 := &testEnv{endpoint: second.endpoint, key: second.key, secret: second.secret, state: t.TempDir()}
	srv2 := env2.startStdio(t, nil, nil)
	after := srv2.ok(t, "list-api-keys", nil)
	assert.Contains(t, names(after["api-keys"], "key"), createdKey, "the key created before the restart is still there")
	assert.Contains(t, names(after["api-keys"], "name"), "made-before-restart")
}

func TestSandboxCommand_BadFlagsFailBeforeServing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"version":99}`), 0o600))
	for name, args := range map[string][]string{
		"listen without port": {"sandbox", "--listen", "127.0.0.1"},
		"unknown flag":        {"sandbox", "--bogus"},
		"extra argument":      {"sandbox", "extra"},
		"state not a state":   {"sandbox", "--listen", "127.0.0.1:0", "--state", bad},
		"state dir missing":   {"sandbox", "--listen", "127.0.0.1:0", "--state", filepath.Join(dir, "no", "such", "dir", "s.json")},
	} {
		out, err := exec.Command(binPath, args...).CombinedOutput()
		require.Error(t, err, "%s: %s", name, out)
		assert.NotContains(t, string(out), "export EXOSCALE_API_SECRET", name)
	}
}
