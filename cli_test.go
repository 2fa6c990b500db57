package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/internal/cli"
)

// runCLI runs the command line in-process with an environment of its own and no input, bounded
// so that a command that starts serving by mistake still ends.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	code = run(ctx, args, strings.NewReader(""), &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// cleanEnv has a home with nothing in it, so no exoscale.toml and no credentials are found.
func cleanEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{"HOME": dir, "XDG_STATE_HOME": dir, "XDG_CONFIG_HOME": dir}
}

func TestCLI_HelpListsEveryCommandOnALine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "help"}} {
		code, stdout, stderr := runCLI(t, nil, args...)
		assert.Equal(t, 0, code, "%q", args)
		assert.Empty(t, stderr, "%q", args)
		assert.Equal(t, cli.Usage(), stdout, "%q", args)
	}
	lines := strings.Split(strings.TrimRight(cli.CommandList(), "\n"), "\n")
	var listed []string
	for _, l := range lines {
		f := strings.Fields(l)
		require.NotEmpty(t, f)
		listed = append(listed, f[0])
		assert.Contains(t, l, cli.Summary(f[0]), "one line: the command and what it does")
	}
	assert.Equal(t, []string{"stdio", "http", "sandbox", "tools", "version", "help"}, listed)
}

// TestCLI_EachCommandAnswersHelp: "COMMAND -h" and "help COMMAND" print the command's usage on
// stdout and exit 0.
func TestCLI_EachCommandAnswersHelp(t *testing.T) {
	t.Parallel()
	for _, c := range cli.Commands {
		name := c.Name
		if name == "help" {
			continue // TestCLI_HelpListsEveryCommandOnALine
		}
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			code, stdout, stderr := runCLI(t, nil, args...)
			assert.Equal(t, 0, code, "%q: %s", args, stderr)
			assert.True(t, strings.HasPrefix(stdout+stderr, "usage: exoscale-keys-mcp "+name), "%q: %s%s", args, stdout, stderr)
			assert.Contains(t, stdout+stderr, cli.Summary(name), "%q", args)
		}
	}
	_, stdout, _ := runCLI(t, nil, "stdio", "-h")
	assert.Contains(t, stdout, "-sandbox", "stdio -h lists the flags")
}

// TestCLI_MistakesExitTwoWithOneLineBeforeAnythingStarts: a wrong command, flag, flag value or
// argument is one line on stderr, exit status 2, and neither the sandbox nor a listener starts.
func TestCLI_MistakesExitTwoWithOneLineBeforeAnythingStarts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
		{[]string{"tools", "extra"}, `unexpected argument "extra"`},
		{[]string{"sandbox", "--bogus"}, "sandbox: flag provided but not defined: -bogus"},
		{[]string{"sandbox", "--listen", "127.0.0.1:0", "extra"}, `unexpected argument "extra"`},
		{[]string{"stdio", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--bogus"}, "stdio: flag provided but not defined: -bogus"},
		{[]string{"stdio", "extra", "--sandbox"}, `unexpected argument "extra"`},
		{[]string{"stdio", "--sandbox", "extra"}, `unexpected argument "extra"`},
		{[]string{"http", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"http", "--sandbox", "--listen", "127.0.0.1:0", "extra"}, `unexpected argument "extra"`},
		{[]string{"stdio", "--timeout", "soon"}, "-timeout"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"help", "bogus"}, `unknown command "bogus"`},
		{[]string{"help", "stdio", "http"}, "at most one command"},
		{[]string{"stdio", "--sandbox", "--confirm", "sometimes"}, `--confirm: expected none, destructive or writes, got "sometimes"`},
		{[]string{"http", "--sandbox", "--listen", "127.0.0.1:0", "--confirm", "sometimes"}, "--confirm: expected"},
		{[]string{"stdio", "--sandbox", "--toolsets", "api-key"}, `--toolsets: tool filter: unknown toolset "api-key"`},
		{[]string{"http", "--sandbox", "--listen", "127.0.0.1:0", "--toolsets", "api-key"}, `unknown toolset "api-key"`},
		{[]string{"stdio", "--sandbox", "--tools", "list-api-key"}, `--tools: tool filter: unknown tool "list-api-key"`},
		{[]string{"stdio", "--sandbox", "--exclude-tools", "nope"}, `--exclude-tools: tool filter: unknown tool "nope"`},
		{[]string{"stdio", "--sandbox", "--confirm-fallback", "maybe"}, "--confirm-fallback: expected deny or allow"},
		{[]string{"stdio", "--sandbox", "--secret-delivery", "email"}, "--secret-delivery: expected file or inline"},
		{[]string{"stdio", "--sandbox", "--log-level", "loud"}, "--log-level: expected debug, info, warn or error"},
	} {
		code, stdout, stderr := runCLI(t, cleanEnv(t), tc.args...)
		assert.Equal(t, 2, code, "%q: %s", tc.args, stderr)
		assert.Empty(t, stdout, "%q", tc.args)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "%q: one line, got:\n%s", tc.args, stderr)
		assert.True(t, strings.HasPrefix(stderr, "exoscale-keys-mcp: "), "%q: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
		assert.NotContains(t, stderr, "serving", "%q: nothing started", tc.args)
	}
}

// TestCLI_BusyPortIsReportedBeforeTheSandboxStarts: the port is bound before the backend, so a
// busy one is the only thing said.
func TestCLI_BusyPortIsReportedBeforeTheSandboxStarts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	code, _, stderr := runCLI(t, cleanEnv(t), "http", "--sandbox", "--listen", ln.Addr().String())
	assert.Equal(t, 1, code, stderr)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line:\n%s", stderr)
	assert.Contains(t, stderr, "--listen "+ln.Addr().String())
	assert.Contains(t, stderr, "address already in use")
	assert.NotContains(t, stderr, "serving the embedded sandbox")
}

// TestCLI_AnAuditLogThatCannotBeOpenedIsReportedBeforeTheSandboxStarts.
func TestCLI_AnAuditLogThatCannotBeOpenedIsReportedBeforeTheSandboxStarts(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-dir", "audit.jsonl")
	for _, args := range [][]string{
		{"stdio", "--sandbox", "--audit-log", missing},
		{"http", "--sandbox", "--listen", "127.0.0.1:0", "--audit-log", missing},
	} {
		code, _, stderr := runCLI(t, cleanEnv(t), args...)
		assert.Equal(t, 1, code, stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line:\n%s", stderr)
		assert.True(t, strings.HasPrefix(stderr, "exoscale-keys-mcp: --audit-log: "), stderr)
		assert.Contains(t, stderr, missing)
		assert.NotContains(t, stderr, "serving the embedded sandbox")
	}
}

func TestCLI_NoCredentialsErrorPointsToTheSandbox(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"stdio"}, {"http", "--listen", "127.0.0.1:0"}} {
		code, _, stderr := runCLI(t, cleanEnv(t), args...)
		assert.Equal(t, 1, code, stderr)
		assert.Contains(t, stderr, "no Exoscale API credentials found", args[0])
		assert.Contains(t, stderr, "exo config", "apiclient's own advice stays")
		assert.Contains(t, stderr, "--sandbox", args[0])
	}
}

// TestCLI_TheBinaryExitsWithTheStatusRunReturns: main passes run's status to the process.
func TestCLI_TheBinaryExitsWithTheStatusRunReturns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"tools", "extra"}, 2},
		{[]string{"version", "--bogus"}, 2},
		{[]string{"help"}, 0},
	} {
		cmd := exec.Command(binPath, tc.args...)
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if tc.code == 0 {
			require.NoError(t, err, "%q: %s", tc.args, out)
			continue
		}
		require.True(t, errors.As(err, &ee), "%q: %v %s", tc.args, err, out)
		assert.Equal(t, tc.code, ee.ExitCode(), "%q: %s", tc.args, out)
		assert.Equal(t, 1, strings.Count(string(out), "\n"), "%q: one line:\n%s", tc.args, out)
	}
}

// TestCLI_SandboxServesWithAnEmptyEnvironment: a container (or env -i) has no HOME, no PATH and
// no XDG variables; --sandbox still answers initialize and tools/list, while the real server
// refuses to pick a secrets directory by itself.
func TestCLI_SandboxServesWithAnEmptyEnvironment(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binPath, "stdio", "--sandbox")
	cmd.Env = []string{}
	cmd.Dir = t.TempDir()
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	for _, line := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
	} {
		_, err := io.WriteString(stdin, line+"\n")
		require.NoError(t, err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var list struct {
		ID     int `json:"id"`
		Result struct {
			Tools []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	for sc.Scan() {
		require.NoError(t, json.Unmarshal(sc.Bytes(), &list))
		if list.ID == 2 {
			break
		}
	}
	require.Equal(t, 2, list.ID, "no tools/list answer; stderr:\n%s", stderr.String())
	assert.Len(t, list.Result.Tools, servedTools())

	real := exec.Command(binPath, "stdio")
	real.Env = []string{}
	real.Dir = t.TempDir()
	out, err := real.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "secrets directory", "without a home the real server fails closed")
}

// TestVersion_ABuildReportsItsStampAndBuildInfo builds the binary as a release does (a version
// stamp, VCS stamping asked for) and checks `version` against what Go recorded in it.
func TestVersion_ABuildReportsItsStampAndBuildInfo(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "exoscale-keys-mcp")
	out, err := exec.Command("go", "build", "-buildvcs=auto", "-ldflags", "-X main.version=9.9.9-test", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	got, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(got), "exoscale-keys-mcp 9.9.9-test\n"), "%s", got)

	recorded, err := exec.Command("go", "version", "-m", bin).Output()
	require.NoError(t, err)
	settings := map[string]string{}
	for _, l := range strings.Split(string(recorded), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "build" {
			if k, v, ok := strings.Cut(f[1], "="); ok {
				settings[k] = v
			}
		}
	}
	if rev := settings["vcs.revision"]; rev != "" {
		assert.Contains(t, string(got), "revision  "+rev, "%s", got)
		assert.Contains(t, string(got), "modified  "+settings["vcs.modified"], "%s", got)
	} else {
		// A git worktree (a .git file, not a directory) is not found by Go's VCS stamping.
		assert.Contains(t, string(got), "revision  unknown", "%s", got)
	}
}
