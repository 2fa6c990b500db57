package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	want := toolTable()
	if *updateREADME {
		require.NoError(t, os.WriteFile("README.md", []byte(readme[:start]+want+readme[j:]), 0o644))
		return
	}
	assert.Equal(t, want, got, "README tool table is stale: go test -run README -update-readme .")
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
