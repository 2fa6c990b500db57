package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The files that describe a release to the outside (the MCP registry's server.json, the
// Claude Desktop bundle's manifest.json, the container image's Dockerfile) agree with VERSION
// and with the server they describe.

const registryName = "io.github.exokeys/exoscale-keys-mcp"

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, v), path)
}

type keyValueInput struct {
	Name       string `json:"name"`
	IsRequired bool   `json:"isRequired"`
	IsSecret   bool   `json:"isSecret"`
}

type serverJSON struct {
	Schema      string `json:"$schema"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     string `json:"version"`
	Repository  struct {
		URL    string `json:"url"`
		Source string `json:"source"`
	} `json:"repository"`
	Packages []struct {
		RegistryType string `json:"registryType"`
		Identifier   string `json:"identifier"`
		Transport    struct {
			Type string `json:"type"`
		} `json:"transport"`
		PackageArguments []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"packageArguments"`
		EnvironmentVariables []keyValueInput `json:"environmentVariables"`
	} `json:"packages"`
	Meta map[string]map[string]any `json:"_meta"`
}

// TestServerJSON_HasWhatTheRegistryRequires checks the fields the 2025-12-11 schema requires
// and bounds, and what this server needs from a client that installs it from the registry.
func TestServerJSON_HasWhatTheRegistryRequires(t *testing.T) {
	t.Parallel()
	var s serverJSON
	readJSON(t, "server.json", &s)
	assert.Equal(t, "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json", s.Schema)
	assert.Equal(t, registryName, s.Name)
	assert.Regexp(t, `^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$`, s.Name, "the schema's name pattern")
	assert.NotEmpty(t, s.Description)
	assert.LessOrEqual(t, len([]rune(s.Description)), 100, "description: at most 100 characters")
	assert.Equal(t, "https://github.com/exokeys/exoscale-keys-mcp", s.Repository.URL)
	assert.Equal(t, "github", s.Repository.Source)
	// The registry accepts an io.github.OWNER/… name only from that GitHub owner.
	assert.True(t, strings.HasPrefix(s.Repository.URL, "https://github.com/exokeys/"), "name namespace matches the repository owner")

	require.Len(t, s.Packages, 1)
	p := s.Packages[0]
	assert.Equal(t, "oci", p.RegistryType)
	assert.Equal(t, "stdio", p.Transport.Type)
	require.NotEmpty(t, p.PackageArguments)
	assert.Equal(t, "stdio", p.PackageArguments[0].Value, "the image's default command is http: the stdio package says stdio")
	env := map[string]keyValueInput{}
	for _, e := range p.EnvironmentVariables {
		env[e.Name] = e
	}
	for _, name := range []string{"EXOSCALE_API_KEY", "EXOSCALE_API_SECRET"} {
		require.Contains(t, env, name)
		assert.True(t, env[name].IsSecret, "%s is a secret", name)
		assert.True(t, env[name].IsRequired, "%s is required", name)
	}
	note, _ := s.Meta["io.modelcontextprotocol.registry/publisher-provided"]["remotes"].(string)
	assert.Contains(t, note, "streamable-http", "the remotes-ready note says how to add a streamable HTTP remote")
}

// TestReleaseFiles_VersionIsVERSION: VERSION is the one source of the release version.
func TestReleaseFiles_VersionIsVERSION(t *testing.T) {
	t.Parallel()
	v := releaseVersion()
	require.Regexp(t, `^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`, v, "VERSION is a semantic version without a leading v")

	var s serverJSON
	readJSON(t, "server.json", &s)
	assert.Equal(t, v, s.Version, "server.json version")
	require.NotEmpty(t, s.Packages)
	assert.Equal(t, "ghcr.io/exokeys/exoscale-keys-mcp:"+v, s.Packages[0].Identifier, "the OCI image is tagged with the version")

	var m manifestJSON
	readJSON(t, "manifest.json", &m)
	assert.Equal(t, v, m.Version, "manifest.json version")

	static, err := os.ReadFile("build/static.sh")
	require.NoError(t, err)
	assert.Contains(t, string(static), "-X main.version=$(cat VERSION)", "the image's build stamps VERSION")
	gr, err := os.ReadFile(".goreleaser.yaml")
	require.NoError(t, err)
	assert.Contains(t, string(gr), "-X main.version={{ .Version }}", "release builds stamp the tag's version")
	assert.Contains(t, string(gr), `"$(cat VERSION)"`, "and refuse a tag that differs from VERSION")
}

type manifestJSON struct {
	ManifestVersion string `json:"manifest_version"`
	Name            string `json:"name"`
	Version         string `json:"version"`
	Description     string `json:"description"`
	Server          struct {
		Type       string `json:"type"`
		EntryPoint string `json:"entry_point"`
		MCPConfig  struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcp_config"`
	} `json:"server"`
	UserConfig map[string]struct {
		Type      string `json:"type"`
		Required  bool   `json:"required"`
		Sensitive bool   `json:"sensitive"`
	} `json:"user_config"`
}

// TestManifestJSON_PassesTheUserConfigAsEnvironment: the bundle runs the binary over stdio with
// the key, secret (sensitive), zone and account the user entered, as the variables the server
// reads. (.ci/run also validates it with mcpb.)
func TestManifestJSON_PassesTheUserConfigAsEnvironment(t *testing.T) {
	t.Parallel()
	var m manifestJSON
	readJSON(t, "manifest.json", &m)
	assert.Equal(t, "0.3", m.ManifestVersion)
	assert.Equal(t, "binary", m.Server.Type)
	assert.Equal(t, "${__dirname}/"+m.Server.EntryPoint, m.Server.MCPConfig.Command)
	assert.Equal(t, []string{"stdio"}, m.Server.MCPConfig.Args)

	ref := regexp.MustCompile(`^\$\{user_config\.([a-z_]+)\}$`)
	wantEnv := map[string]string{
		"EXOSCALE_API_KEY":    "api_key",
		"EXOSCALE_API_SECRET": "api_secret",
		"EXOSCALE_ZONE":       "zone",
		"EXOSCALE_ACCOUNT":    "account",
	}
	require.Len(t, m.Server.MCPConfig.Env, len(wantEnv))
	for name, key := range wantEnv {
		got := ref.FindStringSubmatch(m.Server.MCPConfig.Env[name])
		require.NotNil(t, got, "%s comes from user_config", name)
		assert.Equal(t, key, got[1], name)
		require.Contains(t, m.UserConfig, key)
	}
	assert.True(t, m.UserConfig["api_secret"].Sensitive, "the secret is stored as a secret")
	assert.True(t, m.UserConfig["api_key"].Required)
	assert.True(t, m.UserConfig["api_secret"].Required)
	assert.False(t, m.UserConfig["zone"].Required)
	assert.False(t, m.UserConfig["account"].Required)
}

// TestDockerfile_ImageAsTheRegistryAndREADMEDescribeIt: the label the MCP registry checks, the
// static build CI checks, and the default command.
func TestDockerfile_ImageAsTheRegistryAndREADMEDescribeIt(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	df := string(raw)
	assert.Contains(t, df, `LABEL io.modelcontextprotocol.server.name="`+registryName+`"`)
	assert.Contains(t, df, "RUN sh build/static.sh ", "the image ships the build CI checks")
	assert.Contains(t, df, "FROM gcr.io/distroless/static-debian12:nonroot")
	assert.Contains(t, df, `ENTRYPOINT ["/usr/local/bin/exoscale-keys-mcp"]`)
	assert.Contains(t, df, `CMD ["http", "--listen", "0.0.0.0:8080"]`)

	ignore, err := os.ReadFile(".dockerignore")
	require.NoError(t, err)
	for _, line := range strings.Split(string(ignore), "\n") {
		for _, needed := range []string{"VERSION", "build/static.sh", "go.mod", "go.sum", "schemas"} {
			assert.NotEqual(t, needed, strings.TrimSpace(line), ".dockerignore keeps %s, which the build needs", needed)
		}
	}
}
