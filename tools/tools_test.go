package tools

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files")

func newHandler(t *testing.T, opts Options) *Handler {
	t.Helper()
	if opts.Client == nil {
		c, err := apiclient.New(apiclient.Config{Endpoint: "https://api-ch-gva-2.exoscale.com/v2", Credentials: apiclient.Credentials{Key: "EXOtest", Secret: "s"}})
		require.NoError(t, err)
		opts.Client = c
	}
	h, err := New(opts)
	require.NoError(t, err)
	return h
}

// TestAnnotations_FollowTheHTTPContract holds every tool's hints to its method and access.
func TestAnnotations_FollowTheHTTPContract(t *testing.T) {
	t.Parallel()
	for _, st := range newHandler(t, Options{}).ServerTools() {
		tool := st.Tool
		op, ok := schemas.Lookup(tool.Name)
		require.True(t, ok)
		a := tool.Annotations
		require.NotNil(t, a.ReadOnlyHint, tool.Name)
		require.NotNil(t, a.DestructiveHint, tool.Name)
		require.NotNil(t, a.IdempotentHint, tool.Name)
		require.NotNil(t, a.OpenWorldHint, tool.Name)
		assert.NotEmpty(t, a.Title, tool.Name)
		assert.NotEmpty(t, tool.Title, tool.Name)
		assert.True(t, *a.OpenWorldHint, tool.Name)

		get := op.Method == "GET"
		assert.Equal(t, get, *a.ReadOnlyHint, "%s: read-only iff GET", tool.Name)
		wantIdem := get || op.Method == "PUT" || op.Method == "DELETE"
		assert.Equal(t, wantIdem, *a.IdempotentHint, "%s: idempotent iff GET, PUT or DELETE", tool.Name)
		wantDestr := op.Method == "DELETE" || op.Access == schemas.Replace || op.Access == schemas.Rotate || op.Access == schemas.Reset
		assert.Equal(t, wantDestr, *a.DestructiveHint, "%s: destructive iff DELETE, policy replacement, rotate or reset", tool.Name)
		if op.Access == schemas.Create {
			assert.False(t, *a.IdempotentHint, "%s: a create is never idempotent", tool.Name)
		}
	}
	for name, access := range map[string]schemas.Access{
		"update-iam-role-policy": schemas.Replace, "update-iam-organization-policy": schemas.Replace,
		"rotate-ai-api-key": schemas.Rotate, "reset-iam-organization-policy": schemas.Reset,
	} {
		op, _ := schemas.Lookup(name)
		assert.Equal(t, access, op.Access, name)
	}
}

// TestToolsList_Golden pins what the model sees: any change to names, descriptions, schemas
// or hints shows in review. Run with -update to accept a change.
func TestToolsList_Golden(t *testing.T) {
	t.Parallel()
	var list []mcp.Tool
	for _, st := range newHandler(t, Options{}).ServerTools() {
		list = append(list, st.Tool)
	}
	got, err := json.MarshalIndent(list, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", "tools-list.golden.json")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./tools -run Golden -update to create it")
	assert.JSONEq(t, string(want), string(got), "tools/list changed: review, then go test ./tools -run Golden -update")
}

func TestFilter_ExposesOnlyWhatTheOperatorChose(t *testing.T) {
	t.Parallel()
	names := func(f Filter) []string {
		var out []string
		for _, st := range newHandler(t, Options{Filter: f}).ServerTools() {
			out = append(out, st.Tool.Name)
		}
		return out
	}
	ro := names(Filter{ReadOnly: true})
	assert.NotEmpty(t, ro)
	for _, n := range ro {
		op, _ := schemas.Lookup(n)
		assert.Equal(t, schemas.Read, op.Access, n)
		assert.False(t, strings.HasPrefix(n, "reveal-"), n)
	}
	assert.Contains(t, ro, "list-api-keys")
	assert.NotContains(t, ro, "reveal-ai-api-key")

	assert.ElementsMatch(t, []string{"list-api-keys", "get-api-key", "create-api-key", "delete-api-key"}, names(Filter{Toolsets: []string{"api-keys"}}))
	assert.ElementsMatch(t, []string{"list-api-keys", "get-api-key"}, names(Filter{Tools: []string{"list-api-keys", "get-api-key", "delete-api-key"}, Exclude: []string{"delete-api-key"}}))
	assert.ElementsMatch(t, []string{"list-api-keys", "get-api-key"}, names(Filter{Toolsets: []string{"api-keys"}, ReadOnly: true}))

	_, err := New(Options{Client: newHandler(t, Options{}).client, Filter: Filter{Tools: []string{"list-api-key"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"list-api-key"`)
	_, err = New(Options{Client: newHandler(t, Options{}).client, Filter: Filter{Toolsets: []string{"keys"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "api-keys")
}

func TestBuildRequest_SplitsPathQueryBodyAndDropsLocalArguments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		tool    string
		args    map[string]any
		path    string
		query   string
		body    string
		hasBody bool
	}{
		{"get-api-key", map[string]any{"id": "EXOabc"}, "/api-key/EXOabc", "", "", false},
		{"list-deployments", map[string]any{"visibility": "private"}, "/ai/deployment", "visibility=private", "", false},
		{"list-deployments", map[string]any{}, "/ai/deployment", "", "", false},
		{"create-api-key", map[string]any{"name": "k", "role-id": "r", "dry-run": false, "allow-duplicate-name": true}, "/api-key", "", `{"name":"k","role-id":"r"}`, true},
		{"update-iam-role-policy", map[string]any{"id": "11111111-1111-1111-1111-111111111111", "default-service-strategy": "deny", "services": map[string]any{}},
			"/iam-role/11111111-1111-1111-1111-111111111111:policy", "", `{"default-service-strategy":"deny","services":{}}`, true},
		{"rotate-ai-api-key", map[string]any{"id": "u"}, "/ai/api-key/u/rotate", "", "", false},
		{"reset-iam-organization-policy", map[string]any{}, "/iam-organization-policy:reset", "", "", false},
		{"update-iam-role", map[string]any{"id": "u"}, "/iam-role/u", "", `{}`, true},
		{"get-api-key", map[string]any{"id": "EXO/../x"}, "/api-key/EXO%2F..%2Fx", "", "", false},
	}
	for _, c := range cases {
		op, ok := schemas.Lookup(c.tool)
		require.True(t, ok)
		r, err := buildRequest(op, op.BodyParams(), c.args)
		require.NoError(t, err)
		assert.Equal(t, c.path, r.Path, c.tool)
		assert.Equal(t, c.query, r.Query.Encode(), c.tool)
		assert.Equal(t, c.hasBody, r.Body != nil, c.tool)
		if c.hasBody {
			assert.JSONEq(t, c.body, string(r.Body), c.tool)
		}
		assert.Equal(t, op.Method, r.Method)
		assert.Equal(t, c.tool, r.Operation)
	}
}

func TestDeniesIAM(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy map[string]any
		want   bool
	}{
		{map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}, false},
		{map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}, true},
		{map[string]any{"default-service-strategy": "deny", "services": map[string]any{"iam": map[string]any{"type": "allow"}}}, false},
		{map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "deny"}}}, true},
		{map[string]any{"default-service-strategy": "deny", "services": map[string]any{"iam": map[string]any{"type": "rules"}}}, true},
		{map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "rules", "rules": []any{
			map[string]any{"action": "deny", "expression": "operation == 'delete-api-key'"}}}}}, true},
		{map[string]any{"default-service-strategy": "deny", "services": map[string]any{"iam": map[string]any{"type": "rules", "rules": []any{
			map[string]any{"action": "allow", "expression": "operation in ['list-api-keys']"}}}}}, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, deniesIAM(c.policy), "%v", c.policy)
	}
}

func TestWriteSecretFile_PrivateWholeAndNew(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secrets")
	p1, err := writeSecretFile(dir, "create-api-key_k", []byte("A=1\n"))
	require.NoError(t, err)
	p2, err := writeSecretFile(dir, "create-api-key_k", []byte("A=2\n"))
	require.NoError(t, err)
	assert.NotEqual(t, p1, p2, "a second secret never overwrites the first")
	for _, p := range []string{p1, p2} {
		assert.True(t, filepath.IsAbs(p))
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	b, _ := os.ReadFile(p1)
	assert.Equal(t, "A=1\n", string(b))
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	assert.Empty(t, left)
}

func TestSecretDelivery_ReadyRefusesAnUnusableDirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	err := SecretDelivery{Mode: DeliverFile, Dir: file}.ready()
	require.Error(t, err)

	loose := filepath.Join(t.TempDir(), "loose")
	require.NoError(t, os.Mkdir(loose, 0o755))
	require.NoError(t, SecretDelivery{Mode: DeliverFile, Dir: loose}.ready())
	fi, _ := os.Stat(loose)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "a loose directory is made private")

	assert.NoError(t, SecretDelivery{Mode: DeliverInline}.ready())
	assert.Error(t, SecretDelivery{Mode: DeliverFile, Dir: "relative"}.validate())
	assert.Error(t, SecretDelivery{Mode: "email"}.validate())
}

func TestDefaultSecretsDir(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	d, err := DefaultSecretsDir(env(map[string]string{"XDG_STATE_HOME": "/state", "HOME": "/home/u"}))
	require.NoError(t, err)
	assert.Equal(t, "/state/exoscale-keys-mcp/secrets", d)
	d, err = DefaultSecretsDir(env(map[string]string{"HOME": "/home/u"}))
	require.NoError(t, err)
	assert.Equal(t, "/home/u/.local/state/exoscale-keys-mcp/secrets", d)
}

func FuzzBuildRequest(f *testing.F) {
	f.Add("create-api-key", `{"name":"k","role-id":"11111111-1111-1111-1111-111111111111"}`)
	f.Add("get-api-key", `{"id":"EXO0a1b"}`)
	f.Add("update-iam-role-policy", `{"id":"11111111-1111-1111-1111-111111111111","default-service-strategy":"deny","services":{"iam":{"type":"deny"}}}`)
	f.Add("list-deployments", `{"visibility":"public"}`)
	f.Fuzz(func(t *testing.T, tool, raw string) {
		op, ok := schemas.Lookup(tool)
		if !ok {
			return
		}
		var args map[string]any
		if json.Unmarshal([]byte(raw), &args) != nil || args == nil {
			return
		}
		if schemas.Validate(op, args) != nil {
			return
		}
		r, err := buildRequest(op, op.BodyParams(), args)
		if err != nil {
			return
		}
		if strings.Contains(r.Path, "{") || !strings.HasPrefix(r.Path, "/") {
			t.Fatalf("path not filled: %q", r.Path)
		}
		for _, p := range op.PathParams {
			if !strings.Contains(r.Path, strings.ReplaceAll(stringArg(args, p), "/", "%2F")) {
				t.Fatalf("path %q lacks %s", r.Path, p)
			}
		}
		if r.Body != nil && !json.Valid(r.Body) {
			t.Fatalf("invalid body %q", r.Body)
		}
	})
}

// TestDeliver_WriteFailureStillHandsTheSecretOver: a secret already minted is never lost.
func TestDeliver_WriteFailureStillHandsTheSecretOver(t *testing.T) {
	t.Parallel()
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	h := newHandler(t, Options{Secrets: SecretDelivery{Mode: DeliverFile, Dir: filepath.Join(blocker, "secrets")}})
	op, _ := schemas.Lookup("create-api-key")
	c := &call{op: op, args: map[string]any{"name": "k"}}
	res := h.deliver(t.Context(), c, map[string]any{"key": "EXOabc", "name": "k", "secret": "s3cr3t-value"})
	require.False(t, res.IsError)
	txt := res.Content[0].(mcp.TextContent).Text
	assert.Contains(t, txt, "WARNING")
	assert.Contains(t, txt, "shown here instead")
	assert.Equal(t, "s3cr3t-value", res.StructuredContent.(map[string]any)["secret"])
}

func TestDeliver_FileModeMovesTheSecretOut(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secrets")
	h := newHandler(t, Options{Secrets: SecretDelivery{Mode: DeliverFile, Dir: dir}})
	op, _ := schemas.Lookup("create-api-key")
	c := &call{op: op, args: map[string]any{"name": "k"}}
	res := h.deliver(t.Context(), c, map[string]any{"key": "EXOabc", "name": "k/../x", "secret": "s3cr3t-value", "role-id": "r"})
	require.False(t, res.IsError)
	out := res.StructuredContent.(map[string]any)
	assert.NotContains(t, out, "secret")
	assert.Equal(t, "EXOabc", out["key"])
	path := out["secret-file"].(string)
	assert.Equal(t, dir, filepath.Dir(path), "the name cannot climb out of the directory")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), "EXOSCALE_API_KEY=EXOabc\nEXOSCALE_API_SECRET=s3cr3t-value\n")
	assert.NotContains(t, res.Content[0].(mcp.TextContent).Text, "s3cr3t-value")
}

// TestDotenvValue_SafeToSource: whatever a value holds, sourcing the file in a shell yields
// the value and runs nothing.
func TestDotenvValue_SafeToSource(t *testing.T) {
	t.Parallel()
	values := []string{"EXO0a1b2c", "Zx-_9a/b+c=", "https://x.inference.ch-gva-2.exoscale.com/v1", "$(touch pwned)", "a b", "it's", "`id`;&|\n"}
	dir := t.TempDir()
	var e dotenvFile
	for i, v := range values {
		e.vars = append(e.vars, [2]string{fmt.Sprintf("V%d", i), v})
	}
	file := filepath.Join(dir, "x.env")
	require.NoError(t, os.WriteFile(file, e.content(), 0o600))
	script := "set -a; . " + file + "; set +a"
	for i := range values {
		script += fmt.Sprintf("; printf '%%s\\0' \"$V%d\"", i)
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, values, strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"))
	_, err = os.Stat(filepath.Join(dir, "pwned"))
	assert.True(t, os.IsNotExist(err), "sourcing ran a command")
	assert.Contains(t, string(e.content()), "V0=EXO0a1b2c\n", "plain values stay unquoted for readers that keep quotes")
}
