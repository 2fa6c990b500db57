package tools

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
)

func fileEnv(t *testing.T) (*env, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	return newEnv(t, Options{Secrets: SecretDelivery{Mode: DeliverFile, Dir: dir}}), dir
}

func secretFile(t *testing.T, res Result) (map[string]any, string) {
	t.Helper()
	require.Equal(t, OK, res.Outcome, res.Text)
	obj, err := res.Object()
	require.NoError(t, err)
	path, ok := obj["secret-file"].(string)
	require.True(t, ok, "a secret file: %v", obj)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	return obj, string(b)
}

func TestSecrets_FileMode_TheModelSeesThePathNeverTheSecret(t *testing.T) {
	t.Parallel()
	v, dir := fileEnv(t)
	res := v.call(t, t.Context(), "create-api-key", map[string]any{"name": "ci", "role-id": sandbox.RestrictedRoleID})
	obj, content := secretFile(t, res)
	assert.NotContains(t, obj, "secret")
	assert.Equal(t, "ci", obj["name"])
	assert.Equal(t, dir, filepath.Dir(obj["secret-file"].(string)))
	assert.Contains(t, obj["usage"], "EXOSCALE_API_SECRET")
	assert.Contains(t, res.Note, "not shown here")
	assert.Regexp(t, `EXOSCALE_API_KEY=EXO\w+\nEXOSCALE_API_SECRET=\S+\n`, content)
	for _, line := range strings.Split(content, "\n") {
		if s, ok := strings.CutPrefix(line, "EXOSCALE_API_SECRET="); ok {
			assert.NotContains(t, string(res.Value)+res.Note, s)
		}
	}
	assert.NotContains(t, obj, "withheld")
}

func TestSecrets_AIKeyFilesCarryTheDeploymentURL(t *testing.T) {
	t.Parallel()
	v, _ := fileEnv(t)
	res := v.call(t, t.Context(), "create-ai-api-key", map[string]any{"name": "bot", "scope": sandbox.PrivateDeploymentID})
	obj, content := secretFile(t, res)
	assert.Contains(t, content, "EXOSCALE_AI_API_KEY=")
	assert.Contains(t, content, "OPENAI_API_KEY=")
	assert.Contains(t, content, "OPENAI_BASE_URL=https://")
	assert.Contains(t, obj["usage"], "OPENAI_API_KEY")
	id := obj["id"].(string)

	// Rotate answers with the value only: the scope is read from the key.
	_, content = secretFile(t, v.call(t, t.Context(), "rotate-ai-api-key", map[string]any{"id": id}))
	assert.Contains(t, content, "OPENAI_BASE_URL=https://")
	// A public key has no deployment.
	_, content = secretFile(t, v.call(t, t.Context(), "reveal-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID}))
	assert.NotContains(t, content, "OPENAI_BASE_URL")
	// A deployment's own key: the URL of that deployment.
	_, content = secretFile(t, v.call(t, t.Context(), "reveal-deployment-api-key", map[string]any{"id": sandbox.PrivateDeploymentID}))
	assert.Contains(t, content, "OPENAI_API_KEY=")
	assert.Contains(t, content, "OPENAI_BASE_URL=https://")
}

func TestSecrets_Inline_ShownWithANote(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	res := v.call(t, t.Context(), "create-api-key", map[string]any{"name": "ci", "role-id": sandbox.RestrictedRoleID})
	require.Equal(t, OK, res.Outcome)
	obj, err := res.Object()
	require.NoError(t, err)
	assert.NotEmpty(t, obj["secret"])
	assert.Contains(t, res.Note, "Exoscale shows it once")
	res = v.call(t, t.Context(), "reveal-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID})
	assert.Contains(t, res.Note, "store it now")
}

func TestSecrets_UnusableDirectory_NothingIsMinted(t *testing.T) {
	t.Parallel()
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	v := newEnv(t, Options{Secrets: SecretDelivery{Mode: DeliverFile, Dir: blocker}})
	res := v.call(t, t.Context(), "create-api-key", map[string]any{"name": "ci", "role-id": sandbox.RestrictedRoleID})
	assert.Equal(t, Refused, res.Outcome)
	assert.Contains(t, res.Text, "no secret was minted")
	assert.Zero(t, v.sb.Requests("POST", "/api-key"))
}

// fakeUpstream answers every request with body: an Exoscale whose answers changed shape.
func fakeUpstream(t *testing.T, body string) *Engine {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	e, err := New(Options{
		Client:  sandboxtest.Client(t, srv.URL+"/v2", apiclientCreds()),
		Secrets: SecretDelivery{Mode: DeliverFile, Dir: filepath.Join(t.TempDir(), "secrets")},
	})
	require.NoError(t, err)
	return e
}

// TestSecrets_UnexpectedShapeIsWithheld: the secret under another name, or nested, never
// reaches the model; only the catalog's allow-list does, the rest goes to the secret file.
func TestSecrets_UnexpectedShapeIsWithheld(t *testing.T) {
	t.Parallel()
	const secret = "very-secret-value-123"
	cases := []struct{ tool, body string }{
		{"create-api-key", `{"key":"EXOabc","name":"ci","role-id":"r","api-secret":"` + secret + `"}`},
		{"create-api-key", `{"key":"EXOabc","name":"ci","credentials":{"secret":"` + secret + `"}}`},
		{"create-api-key", `{"key":"EXOabc","name":{"nested":"` + secret + `"},"secret":{"value":"` + secret + `"}}`},
		{"reveal-ai-api-key", `{"value":"","key":"` + secret + `"}`},
		{"reveal-deployment-api-key", `{"apiKey":"` + secret + `"}`},
	}
	for _, c := range cases {
		e := fakeUpstream(t, c.body)
		args := map[string]any{"id": sandbox.SeedAIKeyID}
		if c.tool == "create-api-key" {
			args = map[string]any{"name": "ci", "role-id": sandbox.RestrictedRoleID, "allow-duplicate-name": true}
		}
		res, err := e.Call(t.Context(), c.tool, args)
		require.NoError(t, err)
		require.Equal(t, OK, res.Outcome, res.Text)
		assert.NotContains(t, string(res.Value), secret, c.body)
		assert.NotContains(t, res.Note, secret, c.body)
		obj, content := secretFile(t, res)
		assert.NotEmpty(t, obj["withheld"], c.body)
		assert.Contains(t, res.Note, "withheld", c.body)
		assert.Contains(t, content, secret, "the withheld value is in the file: %s", c.body)
		assert.Contains(t, content, "EXOSCALE_MCP_WITHHELD_", c.body)
	}
	// An answer with nothing secret in it is shown as is (allow-listed fields only).
	e := fakeUpstream(t, `{"value":""}`)
	res, err := e.Call(t.Context(), "reveal-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID})
	require.NoError(t, err)
	assert.Equal(t, OK, res.Outcome)
	assert.JSONEq(t, `{}`, string(res.Value))
	// Not an object at all: a failure, nothing shown.
	e = fakeUpstream(t, `"`+secret+`"`)
	res, err = e.Call(t.Context(), "reveal-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID})
	require.NoError(t, err)
	assert.Equal(t, Failed, res.Outcome)
	assert.NotContains(t, res.Text, secret)
}

// TestSecrets_WriteFailureStillHandsTheSecretOver: a secret already minted is never lost.
// The directory passes the check before the call; while Exoscale mints the key, it is
// replaced by a file, so writing the secret fails.
func TestSecrets_WriteFailureStillHandsTheSecretOver(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secrets")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = os.RemoveAll(dir)
		_ = os.WriteFile(dir, nil, 0o600)
		_, _ = io.WriteString(w, `{"id":"x","name":"n","value":"v4lue"}`)
	}))
	t.Cleanup(srv.Close)
	e, err := New(Options{Client: sandboxtest.Client(t, srv.URL+"/v2", apiclientCreds()), Secrets: SecretDelivery{Mode: DeliverFile, Dir: dir}})
	require.NoError(t, err)
	res, err := e.Call(t.Context(), "create-ai-api-key", map[string]any{"name": "n", "scope": "public", "allow-duplicate-name": true})
	require.NoError(t, err)
	require.Equal(t, OK, res.Outcome, res.Text)
	assert.Contains(t, res.Note, "WARNING")
	assert.Contains(t, res.Note, "shown here instead")
	assert.Contains(t, string(res.Value), "v4lue")
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
	require.Error(t, SecretDelivery{Mode: DeliverFile, Dir: file}.ready())
	require.Error(t, SecretDelivery{Mode: DeliverFile, Dir: filepath.Join(file, "sub")}.ready())

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

// TestDotenvValue_SafeToSource: whatever a value holds, sourcing the file in a shell yields
// the value and runs nothing.
func TestDotenvValue_SafeToSource(t *testing.T) {
	t.Parallel()
	values := []string{"EXO0a1b2c", "Zx-_9a/b+c=", "https://x.inference.ch-gva-2.exoscale.com/v1", "$(touch pwned)", "a b", "it's", "`id`;&|\n", `{"secret":"x y"}`}
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

// TestRotateAIKey_SetsAsideTheFilesHoldingTheOldValue: rotate-ai-api-key renames the secret
// files of that key written before (create, reveal) to .retired, as rotate-api-key does for
// IAM keys, and says so; the new file and another key's file stay where they are.
func TestRotateAIKey_SetsAsideTheFilesHoldingTheOldValue(t *testing.T) {
	t.Parallel()
	v, _ := fileEnv(t)
	ctx := t.Context()
	created, _ := secretFile(t, v.call(t, ctx, "create-ai-api-key", map[string]any{"name": "bot", "scope": sandbox.PrivateDeploymentID}))
	id := created["id"].(string)
	revealed, _ := secretFile(t, v.call(t, ctx, "reveal-ai-api-key", map[string]any{"id": id}))
	other, _ := secretFile(t, v.call(t, ctx, "create-ai-api-key", map[string]any{"name": "other", "scope": sandbox.PrivateDeploymentID}))

	res := v.call(t, ctx, "rotate-ai-api-key", map[string]any{"id": id})
	rotated, content := secretFile(t, res)
	old := []string{created["secret-file"].(string), revealed["secret-file"].(string)}
	assert.ElementsMatch(t, []any{old[0] + ".retired", old[1] + ".retired"}, rotated["secret-files-retired"])
	for _, p := range old {
		assert.NoFileExists(t, p)
		assert.FileExists(t, p+".retired")
	}
	assert.Contains(t, res.Note, "old value, which no longer works")
	assert.FileExists(t, other["secret-file"].(string), "another key's file is not touched")
	assert.Contains(t, content, "OPENAI_API_KEY=")

	// A second rotation retires the first rotation's file, and only that one.
	again, _ := secretFile(t, v.call(t, ctx, "rotate-ai-api-key", map[string]any{"id": id}))
	assert.Equal(t, []any{rotated["secret-file"].(string) + ".retired"}, again["secret-files-retired"])
	assert.FileExists(t, again["secret-file"].(string))
}
