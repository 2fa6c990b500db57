package tools

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// Defects an agent met when it used the tools against the sandbox (issue 10, item 8).

func TestDelete_AlreadyGoneSucceedsAndSaysNothingWasDeleted(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	ids := map[string]string{"api-keys": "EXO00000000000000000000000000", "ai-api-keys": uuid.NewString(), "iam-roles": uuid.NewString()}
	n := 0
	for _, op := range schemas.Catalog() {
		if op.Access != schemas.Delete {
			continue
		}
		n++
		t.Run(op.Name, func(t *testing.T) {
			id := ids[op.Toolset]
			require.NotEmpty(t, id, "an unknown id for %s", op.Toolset)
			res := v.call(t, t.Context(), op.Name, map[string]any{"id": id})
			require.Equal(t, OK, res.Outcome, "%s is idempotent: an object already gone meets its goal: %s", op.Name, res.Text)
			assert.Contains(t, res.Note, "Already deleted")
			assert.Contains(t, res.Note, "not there now")
			assert.Contains(t, res.Note, "deleted nothing", "honest: this call deleted nothing")
			assert.NotContains(t, res.Note, "check the id")
			obj, err := res.Object()
			require.NoError(t, err)
			assert.Equal(t, false, obj["deleted"])
			assert.Equal(t, id, obj["id"])
			assert.Equal(t, schemas.Toolset(op.Toolset).ListHint, obj["next"])
		})
	}
	assert.Equal(t, 3, n)
}

func TestDelete_ResultPointsAtTheListNotAtTheDeletedObject(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	ctx := t.Context()
	res := v.call(t, ctx, "create-api-key", map[string]any{"name": "short-lived", "role-id": sandbox.RestrictedRoleID})
	require.Equal(t, OK, res.Outcome, res.Text)
	created, err := res.Object()
	require.NoError(t, err)
	key := created["key"].(string)

	res = v.call(t, ctx, "delete-api-key", map[string]any{"id": key})
	require.Equal(t, OK, res.Outcome, res.Text)
	assert.NotContains(t, string(res.Value), "get-api-key", "the deleted key can only answer 404 now")
	obj, err := res.Object()
	require.NoError(t, err)
	assert.Equal(t, key, obj["deleted"])
	assert.Equal(t, "list-api-keys shows the IAM API keys", obj["next"])
	assert.Contains(t, res.Note, "Deleted "+key)
}

// TestUpdate_NothingToChangeIsRefused: every update takes something to change besides the id;
// a call with none is refused before anything is sent (update-iam-role used to send an empty
// PUT).
func TestUpdate_NothingToChangeIsRefused(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	ids := map[string]string{"ai-api-keys": sandbox.SeedAIKeyID, "iam-roles": sandbox.RestrictedRoleID}
	for _, op := range schemas.Catalog() {
		if op.Access != schemas.Update {
			continue
		}
		t.Run(op.Name, func(t *testing.T) {
			res := v.call(t, t.Context(), op.Name, map[string]any{"id": ids[op.Toolset]})
			require.Equal(t, Invalid, res.Outcome, res.Text)
			assert.Contains(t, res.Text, "at least one required")
			assert.Zero(t, v.sb.Requests(op.Method, "*"))
		})
	}
	res := v.call(t, t.Context(), "update-iam-role", map[string]any{"id": sandbox.RestrictedRoleID, "dry-run": true})
	assert.Equal(t, Invalid, res.Outcome, "dry-run is not a change")
	res = v.call(t, t.Context(), "update-iam-role", map[string]any{"id": sandbox.RestrictedRoleID, "description": "read compute"})
	assert.Equal(t, OK, res.Outcome, res.Text)
}

// repeated returns the first clause (of at least 12 characters) that a text says twice.
func repeated(text string) string {
	seen := map[string]bool{}
	for _, c := range regexp.MustCompile(`[.:;]\s+|\n`).Split(text, -1) {
		c = strings.ToLower(strings.TrimSpace(c))
		if len(c) < 12 {
			continue
		}
		if seen[c] {
			return c
		}
		seen[c] = true
	}
	return ""
}

// TestErrors_NeverRepeatTheUpstreamMessage: create-api-key with an unknown role used to say
// "role-id: no IAM role with this id (…): role-id: no IAM role with this id (…)". No error
// text says a clause twice, over every failure the sandbox can produce or be made to.
func TestErrors_NeverRepeatTheUpstreamMessage(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	ctx := t.Context()

	var texts []string
	res := v.call(t, ctx, "create-api-key", map[string]any{"name": "k", "role-id": uuid.NewString(), "allow-duplicate-name": true})
	require.Equal(t, Failed, res.Outcome)
	assert.Equal(t, 1, strings.Count(res.Text, "no IAM role with this id"), res.Text)
	texts = append(texts, res.Text)
	res = v.call(t, ctx, "get-api-key", map[string]any{"id": "EXO0000"})
	texts = append(texts, res.Text)
	res = v.call(t, ctx, "create-ai-api-key", map[string]any{"name": "k", "scope": uuid.NewString()})
	texts = append(texts, res.Text)

	problem := func(status int, detail string, fields ...map[string]string) []byte {
		b, _ := json.Marshal(map[string]any{"type": "x", "title": http.StatusText(status), "status": status, "detail": detail, "errors": fields})
		return b
	}
	faults := []sandbox.Fault{
		{Status: http.StatusBadRequest, Body: problem(400, "name: too long", map[string]string{"path": "name", "detail": "too long"})},
		{Status: http.StatusBadRequest, Body: problem(400, "too long", map[string]string{"detail": "too long"})},
		{Status: http.StatusUnauthorized, Body: []byte(`{"message":"Unauthorized"}`)},
		{Status: http.StatusForbidden, Body: []byte(`{"message":"Forbidden by the organization policy"}`)},
		{Status: http.StatusForbidden, Body: []byte(`{"message":"Forbidden","detail":"Forbidden"}`)},
		{Status: http.StatusNotFound},
		{Status: http.StatusConflict, Body: problem(409, "Conflict")},
		{Status: http.StatusTooManyRequests, RetryAfter: "3"},
		{Status: http.StatusInternalServerError},
		{Status: http.StatusServiceUnavailable, Body: []byte(`{"message":"Service Unavailable: Service Unavailable"}`)},
		{InvalidJSON: true},
	}
	for _, op := range []string{"list-api-keys", "create-iam-role"} {
		for _, f := range faults {
			f.Count = 1
			v.sb.Inject(f)
			args := map[string]any{}
			if op == "create-iam-role" {
				args = map[string]any{"name": "r-" + uuid.NewString()[:8], "policy": map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}}
			}
			res := v.call(t, ctx, op, args)
			require.True(t, res.IsError(), "%s with fault %+v", op, f)
			texts = append(texts, res.Text)
			v.sb.ClearFaults()
		}
	}
	for _, text := range texts {
		assert.Empty(t, repeated(text), "said twice in: %s", text)
	}
}

// TestErrors_NameJSONTypesNeverGoTypes: whatever JSON value a model sends where another was
// expected, the error names JSON types ("got an array"), never Go's ("[]interface {}").
func TestErrors_NameJSONTypesNeverGoTypes(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	goTypes := regexp.MustCompile(`interface \{\}|map\[|\[\]|float64|json\.Number|int64|%!`)
	wrong := []any{[]any{"a"}, map[string]any{"a": 1}, json.Number("1"), true, nil, "s"}
	for _, op := range schemas.Catalog() {
		var schema struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		require.NoError(t, json.Unmarshal(op.InputSchema, &schema))
		for prop := range schema.Properties {
			for _, w := range wrong {
				res := v.call(t, t.Context(), op.Name, map[string]any{prop: w, "dry-run": true})
				assert.NotRegexp(t, goTypes, res.Text, "%s %s=%v", op.Name, prop, w)
			}
		}
	}
	res := v.call(t, t.Context(), "create-api-key", map[string]any{"name": []any{"a"}, "role-id": sandbox.RestrictedRoleID})
	assert.Contains(t, res.Text, "got an array")
	assert.Equal(t, "an array", schemas.JSONKind([]string{"a"}), "a Go value is named by the JSON it would be")
	assert.Equal(t, "an object", schemas.JSONKind(struct{ A int }{1}))
	assert.Equal(t, "a number", schemas.JSONKind(3))
}

// TestInstructions_FollowTheToolsServed: the instructions name no tool that is not served;
// read-only mode mentions no create tool and no dry run.
func TestInstructions_FollowTheToolsServed(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Secrets: SecretDelivery{Mode: DeliverFile, Dir: t.TempDir()}})
	filters := []Filter{{}, {ReadOnly: true}}
	for _, ts := range schemas.Toolsets {
		filters = append(filters, Filter{Toolsets: []string{ts}}, Filter{Toolsets: []string{ts}, ReadOnly: true})
	}
	for _, op := range schemas.Catalog() {
		filters = append(filters, Filter{Tools: []string{op.Name}}, Filter{Exclude: []string{op.Name}})
	}
	for _, f := range filters {
		reg, err := v.e.NewRegistry(f)
		require.NoError(t, err)
		text := v.e.Instructions(reg)
		for _, op := range schemas.Catalog() {
			if _, ok := reg.Tool(op.Name); ok {
				continue
			}
			assert.NotRegexp(t, `(^|[^a-z-])`+regexp.QuoteMeta(op.Name)+`($|[^a-z-])`, text, "filter %+v: %s is not served", f)
		}
		served := false
		for _, tool := range reg.Tools() {
			served = served || takesDryRun(tool)
		}
		if !served {
			assert.NotContains(t, text, "dry-run", "filter %+v", f)
		}
	}
	reg, err := v.e.NewRegistry(Filter{ReadOnly: true})
	require.NoError(t, err)
	text := v.e.Instructions(reg)
	assert.NotContains(t, text, "create")
	assert.NotContains(t, text, "dry-run")
	assert.NotContains(t, text, "Secrets", "read-only serves no tool that returns a secret")
	assert.Contains(t, text, "list-*")
	full, err := v.e.NewRegistry(Filter{})
	require.NoError(t, err)
	assert.Contains(t, v.e.Instructions(full), "create-iam-role")
	assert.Contains(t, v.e.Instructions(full), "dry-run")
}

func TestDryRun_ShowsNoAuthorizationLine(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	for _, c := range []struct {
		op   string
		args map[string]any
	}{
		{"create-api-key", map[string]any{"name": "k", "role-id": sandbox.RestrictedRoleID}},
		{"delete-iam-role", map[string]any{"id": sandbox.RestrictedRoleID}},
		{"update-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID, "name": "n"}},
	} {
		c.args["dry-run"] = true
		res := v.call(t, t.Context(), c.op, c.args)
		require.Equal(t, DryRun, res.Outcome, res.Text)
		all := strings.ToLower(res.Note + string(res.Value))
		for _, w := range []string{"authorization", "signature=", "credential=", "signed_headers", v.key} {
			assert.NotContains(t, all, strings.ToLower(w), c.op)
		}
		obj, err := res.Object()
		require.NoError(t, err)
		for _, k := range []string{"method", "url", "path", "signing"} {
			assert.Contains(t, obj, k, c.op)
		}
		assert.Contains(t, obj["signing"], "EXO2-HMAC-SHA256")
	}
}

// fakeCurl puts a curl on PATH that records its arguments and the headers it reads on stdin.
func fakeCurl(t *testing.T) (pathEnv, argsFile, stdinFile string) {
	t.Helper()
	bin := t.TempDir()
	argsFile, stdinFile = filepath.Join(bin, "args"), filepath.Join(bin, "stdin")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\ncat > " + stdinFile + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "curl"), []byte(script), 0o755))
	return bin + string(os.PathListSeparator) + os.Getenv("PATH"), argsFile, stdinFile
}

// TestAIKeyResult_SaysHowToCallTheDeployment: the result of each tool that delivers an AI key
// names the deployment's base URL and model, and one shell line that calls it with the key
// read from the file: the value appears neither in the result nor on curl's command line.
func TestAIKeyResult_SaysHowToCallTheDeployment(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run the call line")
	}
	v := newEnv(t, Options{Secrets: SecretDelivery{Mode: DeliverFile, Dir: t.TempDir()}})
	ctx := t.Context()
	res := v.call(t, ctx, "create-ai-api-key", map[string]any{"name": "bot", "scope": sandbox.PrivateDeploymentID})
	require.Equal(t, OK, res.Outcome, res.Text)
	created, err := res.Object()
	require.NoError(t, err)
	id := created["id"].(string)
	// Each call line is run right after its call: a rotation retires the files before it.
	for _, next := range []func() Result{
		func() Result { return res },
		func() Result { return v.call(t, ctx, "reveal-ai-api-key", map[string]any{"id": id}) },
		func() Result { return v.call(t, ctx, "rotate-ai-api-key", map[string]any{"id": id}) },
	} {
		r := next()
		require.Equal(t, OK, r.Outcome, r.Text)
		obj, err := r.Object()
		require.NoError(t, err)
		assert.Equal(t, "https://60871f92.inference.ch-gva-2.exoscale.com/v1", obj["base-url"])
		assert.Equal(t, "mistralai/Mistral-Small-3.2-24B-Instruct-2506", obj["model"])
		line, _ := obj["call"].(string)
		file, _ := obj["secret-file"].(string)
		require.NotEmpty(t, line)
		assert.Contains(t, line, file)
		for _, s := range v.sb.Secrets() {
			assert.NotContains(t, string(r.Value)+r.Note, s)
		}

		path, argsFile, stdinFile := fakeCurl(t)
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		value := dotenvVar(t, file, "OPENAI_API_KEY")
		headers, err := os.ReadFile(stdinFile)
		require.NoError(t, err)
		assert.Equal(t, "Authorization: Bearer "+value+"\n", string(headers), "the key reaches curl on stdin")
		args, err := os.ReadFile(argsFile)
		require.NoError(t, err)
		assert.NotContains(t, string(args), value, "never on the command line")
		assert.Contains(t, string(args), "https://60871f92.inference.ch-gva-2.exoscale.com/v1/chat/completions")
		assert.Contains(t, string(args), `"model":"mistralai/Mistral-Small-3.2-24B-Instruct-2506"`)
	}

	// A key for every deployment (scope public) has no one deployment to call.
	res = v.call(t, ctx, "create-ai-api-key", map[string]any{"name": "any", "scope": "public"})
	require.Equal(t, OK, res.Outcome, res.Text)
	obj, err := res.Object()
	require.NoError(t, err)
	assert.NotContains(t, obj, "call")
}

func dotenvVar(t *testing.T, file, name string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+"="); ok {
			return v
		}
	}
	t.Fatalf("%s not in %s", name, file)
	return ""
}

// TestDeleteKey_RenamesTheSecretFileItWrote: deleting a key whose secret file this server
// wrote renames the file <file>.revoked and says so, after a restart too; a symlink in the
// secrets directory is never followed or renamed.
func TestDeleteKey_RenamesTheSecretFileItWrote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sb, base := sandboxtest.Start(t)
	key0, secret0 := sb.ServerCredentials()
	engine := func() *Engine {
		e, err := New(Options{Client: sandboxtest.Client(t, base, apiclient.Credentials{Key: key0, Secret: secret0}), Secrets: SecretDelivery{Mode: DeliverFile, Dir: dir}})
		require.NoError(t, err)
		return e
	}
	v := &env{sb: sb, e: engine(), key: key0}
	ctx := t.Context()
	create := func(e *Engine, name string) (key, file string) {
		res, err := e.Call(ctx, "create-api-key", map[string]any{"name": name, "role-id": sandbox.RestrictedRoleID})
		require.NoError(t, err)
		require.Equal(t, OK, res.Outcome, res.Text)
		obj, err := res.Object()
		require.NoError(t, err)
		return obj["key"].(string), obj["secret-file"].(string)
	}

	key, file := create(v.e, "one")
	other, otherFile := create(v.e, "two")
	res := v.call(t, ctx, "delete-api-key", map[string]any{"id": key})
	require.Equal(t, OK, res.Outcome, res.Text)
	assert.NoFileExists(t, file)
	assert.FileExists(t, file+".revoked")
	assert.FileExists(t, otherFile, "another key's file stays")
	assert.Contains(t, res.Note, file+".revoked")
	obj, err := res.Object()
	require.NoError(t, err)
	assert.Equal(t, []any{file + ".revoked"}, obj["secret-files-revoked"])

	// A restarted server (a new engine) finds the file by the key id it carries. A symlink
	// next to it that points at a file with the same line is left alone, and so is its target.
	outside := filepath.Join(t.TempDir(), "elsewhere.env")
	content, err := os.ReadFile(otherFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(outside, content, 0o600))
	link := filepath.Join(dir, "link.env")
	require.NoError(t, os.Symlink(outside, link))

	res, err = engine().Call(ctx, "delete-api-key", map[string]any{"id": other})
	require.NoError(t, err)
	require.Equal(t, OK, res.Outcome, res.Text)
	assert.FileExists(t, otherFile+".revoked")
	assert.Contains(t, res.Note, otherFile+".revoked")
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode()&os.ModeSymlink, "the symlink is not renamed")
	assert.FileExists(t, outside, "nor its target")

	// A dry run renames nothing. A key found already gone has its file set aside all the
	// same, and the note stays honest.
	k3, f3 := create(v.e, "three")
	require.Equal(t, DryRun, v.call(t, ctx, "delete-api-key", map[string]any{"id": k3, "dry-run": true}).Outcome)
	assert.FileExists(t, f3, "a dry run renames nothing")
	v.sb.Inject(sandbox.Fault{Method: "DELETE", Path: "/api-key/" + k3, Status: http.StatusNotFound})
	res = v.call(t, ctx, "delete-api-key", map[string]any{"id": k3})
	require.Equal(t, OK, res.Outcome, res.Text)
	assert.Contains(t, res.Note, "Already deleted")
	assert.Contains(t, res.Note, f3+".revoked")
	assert.FileExists(t, f3+".revoked")
}

// TestDeleteRole_InUseNamesTheKeysOnIt: Exoscale refuses to delete a role keys still use; the
// error names those keys, so the model knows what to do.
func TestDeleteRole_InUseNamesTheKeysOnIt(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	ctx := t.Context()
	res := v.call(t, ctx, "create-iam-role", map[string]any{"name": "ci", "policy": map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}})
	require.Equal(t, OK, res.Outcome, res.Text)
	role, err := res.Object()
	require.NoError(t, err)
	roleID := role["id"].(string)
	var keys []string
	for _, name := range []string{"ci-a", "ci-b"} {
		res := v.call(t, ctx, "create-api-key", map[string]any{"name": name, "role-id": roleID})
		require.Equal(t, OK, res.Outcome, res.Text)
		obj, err := res.Object()
		require.NoError(t, err)
		keys = append(keys, obj["key"].(string))
	}
	res = v.call(t, ctx, "delete-iam-role", map[string]any{"id": roleID})
	require.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "ci-a ("+keys[0]+")")
	assert.Contains(t, res.Text, "ci-b ("+keys[1]+")")
	assert.Contains(t, res.Text, "delete-api-key")
	assert.NotContains(t, res.Text, sandbox.RestrictedKeyName, "keys on other roles are not named")
	assert.Empty(t, repeated(res.Text), res.Text)
}
