package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/internal/cli"
	"github.com/exokeys/exoscale-keys-mcp/internal/server"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's tool table")

const (
	tableBegin = "<!-- tools:begin"
	tableEnd   = "<!-- tools:end -->"
)

// TestREADME_ToolTableIsCurrent fails when the README's tool table drifts from the catalog.
// go test -run README -update-readme . rewrites it.
func TestREADME_ToolTableIsCurrent(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(raw)
	i := strings.Index(readme, tableBegin)
	j := strings.Index(readme, tableEnd)
	require.True(t, i >= 0 && j > i, "README.md lacks the tools:begin/tools:end markers")
	start := i + strings.Index(readme[i:], "-->\n") + len("-->\n")
	got := readme[start:j]
	want := server.ToolTable()
	if *updateREADME {
		require.NoError(t, os.WriteFile("README.md", []byte(readme[:start]+want+readme[j:]), 0o644))
		return
	}
	assert.Equal(t, want, got, "README tool table is stale: go test -run README -update-readme .")
}

const (
	commandsBegin = "<!-- commands:begin"
	commandsEnd   = "<!-- commands:end -->"
)

// TestREADME_CommandListIsCurrent fails when the README's command list drifts from `help`.
// go test -run README -update-readme . rewrites it.
func TestREADME_CommandListIsCurrent(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(raw)
	i := strings.Index(readme, commandsBegin)
	j := strings.Index(readme, commandsEnd)
	require.True(t, i >= 0 && j > i, "README.md lacks the commands:begin/commands:end markers")
	start := i + strings.Index(readme[i:], "-->\n") + len("-->\n")
	want := "```\n" + cli.CommandList() + "```\n"
	if *updateREADME {
		require.NoError(t, os.WriteFile("README.md", []byte(readme[:start]+want+readme[j:]), 0o644))
		return
	}
	assert.Equal(t, want, readme[start:j], "README command list is stale: go test -run README -update-readme .")
}

// TestREADME_InstallsWithGoInstallFirst: the first install line is go install of this module.
func TestREADME_InstallsWithGoInstallFirst(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	mod, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	module := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(mod), "\n", 2)[0], "module"))
	_, install, ok := strings.Cut(string(readme), "## Install\n")
	require.True(t, ok, "README has an Install section")
	_, block, ok := strings.Cut(install, "```sh\n")
	require.True(t, ok)
	first, _, _ := strings.Cut(block, "\n")
	assert.Equal(t, "go install "+module+"@latest", first)
	assert.Contains(t, string(readme), "go build -buildvcs=true", "the build line asks for VCS stamping")
}

// TestREADME_SandboxSeedIsCurrent: the README's table of what the sandbox holds names what it is
// seeded with, including the key the server signs with.
func TestREADME_SandboxSeedIsCurrent(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "### What the sandbox holds")
	require.True(t, ok)
	section, _, _ = strings.Cut(section, "\n## ")
	for _, name := range []string{sandbox.AdminRoleName, sandbox.RestrictedRoleName, sandbox.ServerKeyName,
		sandbox.RestrictedKeyName, sandbox.SeedAIKeyName, sandbox.PrivateDeploymentName, sandbox.PublicDeploymentName} {
		assert.Contains(t, section, "`"+name+"`", "the seed table names %s", name)
	}
	assert.Contains(t, section, "`"+sandbox.ServerKeyName+"` | on `"+sandbox.AdminRoleName+"`: **the key the server signs with**")
}

// vscodeInstallLink is VS Code's install link (through its web redirect, since GitHub does not
// link vscode: URLs) for a stdio server with these arguments, environment and inputs.
func vscodeInstallLink(name string, args []string, env map[string]string, inputs []map[string]any) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return strings.ReplaceAll(url.QueryEscape(string(b)), "+", "%20")
	}
	config := map[string]any{"type": "stdio", "command": "exoscale-keys-mcp", "args": args}
	if env != nil {
		config["env"] = env
	}
	link := "https://insiders.vscode.dev/redirect/mcp/install?name=" + name
	if inputs != nil {
		link += "&inputs=" + enc(inputs)
	}
	return link + "&config=" + enc(config)
}

// TestREADME_VSCodeInstallLinksAreCurrent: the links carry the stdio command, the credentials
// as inputs (the secret a password), and the sandbox without any.
func TestREADME_VSCodeInstallLinksAreCurrent(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	real := vscodeInstallLink("exoscale-keys", []string{"stdio"},
		map[string]string{"EXOSCALE_API_KEY": "${input:exoscale-api-key}", "EXOSCALE_API_SECRET": "${input:exoscale-api-secret}"},
		[]map[string]any{
			{"type": "promptString", "id": "exoscale-api-key", "description": "Exoscale API key (EXO…)"},
			{"type": "promptString", "id": "exoscale-api-secret", "description": "Exoscale API secret", "password": true},
		})
	sandboxed := vscodeInstallLink("exoscale-keys-sandbox", []string{"stdio", "--sandbox"}, nil, nil)
	assert.True(t, strings.Contains(string(readme), "[install in VS Code]("+real+")"), "README lacks the VS Code link:\n%s", real)
	assert.True(t, strings.Contains(string(readme), "[install the sandbox]("+sandboxed+")"), "README lacks the VS Code sandbox link:\n%s", sandboxed)
}

// TestREADME_TestCommandIsWhatCIRuns keeps the README and .ci/run on the same test command.
func TestREADME_TestCommandIsWhatCIRuns(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	ci, err := os.ReadFile(".ci/run")
	require.NoError(t, err)
	assert.Contains(t, string(readme), "go test -race ./...")
	assert.Contains(t, string(ci), "go test -race")
	assert.Contains(t, string(ci), "./...")
}

func TestMCPJSONExample_IsValidAndRunsTheBinary(t *testing.T) {
	raw, err := os.ReadFile("mcp.json.example")
	require.NoError(t, err)
	var cfg struct {
		MCPServers map[string]struct {
			Command string   `json:"command"`
			Args    []string `json:"args"`
			URL     string   `json:"url"`
		} `json:"mcpServers"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	require.NoError(t, d.Decode(&cfg))
	require.NotEmpty(t, cfg.MCPServers)
	var stdio, url bool
	for name, s := range cfg.MCPServers {
		if s.URL != "" {
			url = true
			assert.True(t, strings.HasSuffix(s.URL, "/mcp"), name)
			continue
		}
		stdio = true
		assert.Equal(t, "exoscale-keys-mcp", s.Command, name)
		require.NotEmpty(t, s.Args, name)
		assert.Equal(t, "stdio", s.Args[0], name)
	}
	assert.True(t, stdio && url, "both a stdio and a url entry")
}
