package tools

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

func TestOutcome_WordsOfTheAuditLog(t *testing.T) {
	t.Parallel()
	want := map[Outcome]string{OK: "ok", Invalid: "invalid", Refused: "refused", DryRun: "dry-run", Declined: "declined", Failed: "error", NeedsInput: "confirming"}
	for o, w := range want {
		assert.Equal(t, w, o.String())
	}
	assert.Equal(t, "Outcome(0)", Outcome(0).String())
	assert.True(t, Result{Outcome: Refused}.IsError())
	assert.False(t, Result{Outcome: DryRun}.IsError())

	// What composite tools build their results with.
	f := Failure(Declined, "declined: no")
	assert.True(t, f.IsError())
	_, err := f.Object()
	assert.Error(t, err, "a failure holds no value")
	r, err := ValueResult(OK, map[string]any{"a": 1}, "n")
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(r.Value))
	_, err = ValueResult(OK, map[string]any{"f": func() {}}, "")
	assert.Error(t, err, "a value that does not encode is a bug")
}

func TestCall_ReadAnswersWithExoscalesJSONCompacted(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	res := v.call(t, t.Context(), "get-iam-role", map[string]any{"id": sandbox.AdminRoleID})
	require.Equal(t, OK, res.Outcome, res.Text)
	assert.True(t, json.Valid(res.Value))
	assert.NotContains(t, string(res.Value), "\n")
	obj, err := res.Object()
	require.NoError(t, err)
	assert.Equal(t, sandbox.AdminRoleName, obj["name"])
}

func TestCall_InvalidArgumentsSendNothing(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	res := v.call(t, t.Context(), "delete-api-key", map[string]any{"id": "not-a-key", "extra": 1})
	assert.Equal(t, Invalid, res.Outcome)
	assert.Contains(t, res.Text, "invalid arguments for delete-api-key")
	assert.Contains(t, res.Text, "Nothing was sent")
	assert.Zero(t, v.sb.Requests("DELETE", "/api-key/*"))

	// The catalog's "at least one of" rule.
	res = v.call(t, t.Context(), "update-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID})
	assert.Equal(t, Invalid, res.Outcome)
	assert.Contains(t, res.Text, "name, scope: at least one required")
}

// TestCall_BugsAreGoErrors: an unknown operation or a schema that does not compile is the
// server's fault, never advice to the model.
func TestCall_BugsAreGoErrors(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	_, err := v.e.Call(t.Context(), "no-such-operation", nil)
	require.Error(t, err)

	op, ok := schemas.Lookup("list-zones")
	require.True(t, ok)
	op.Name = "broken"
	op.InputSchema = json.RawMessage(`{"type":"object","properties":{"x":{"type":"no-such-type"}}}`)
	v.e.ops[op.Name] = &opSpec{op: op, bodyParams: op.BodyParams}
	_, err = v.e.Call(t.Context(), "broken", map[string]any{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "broken")
}

func TestCall_DryRunShowsTheRequestAndSendsNothing(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	res := v.call(t, t.Context(), "update-iam-role-policy", map[string]any{
		"id": sandbox.RestrictedRoleID, "default-service-strategy": "deny", "services": map[string]any{}, "dry-run": true,
	})
	require.Equal(t, DryRun, res.Outcome, res.Text)
	obj, err := res.Object()
	require.NoError(t, err)
	assert.Equal(t, "PUT", obj["method"])
	assert.Contains(t, obj["url"], "/iam-role/"+sandbox.RestrictedRoleID+":policy")
	assert.NotContains(t, obj, "authorization", "no authorization line, not even a masked one")
	assert.Contains(t, obj["signing"], "EXO2-HMAC-SHA256")
	assert.Equal(t, "/v2/iam-role/"+sandbox.RestrictedRoleID+":policy", obj["path"])
	assert.Equal(t, map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}, obj["body"])
	assert.Contains(t, res.Note, "nothing was sent")
	assert.Zero(t, v.sb.Requests("PUT", "/iam-role/*"))
}

// TestCall_CreateRoleAnswersWithTheRole: the catalog's FetchAfter makes the awaited create
// answer with the object, and each poll is reported as progress.
func TestCall_CreateRoleAnswersWithTheRoleAndReportsProgress(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	p := &fakePeer{session: "s1"}
	ctx := WithPeer(t.Context(), p)
	res := v.call(t, ctx, "create-iam-role", map[string]any{"name": "ops", "policy": map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}})
	require.Equal(t, OK, res.Outcome, res.Text)
	obj, err := res.Object()
	require.NoError(t, err)
	assert.Equal(t, "ops", obj["name"])
	assert.NotEmpty(t, obj["id"])
	p.mu.Lock()
	assert.NotEmpty(t, p.progress, "each poll is reported")
	p.mu.Unlock()

	// An awaited delete answers with the final operation.
	res = v.call(t, ctx, "delete-iam-role", map[string]any{"id": obj["id"].(string)})
	require.Equal(t, OK, res.Outcome, res.Text)
	op, err := res.Object()
	require.NoError(t, err)
	assert.Equal(t, "success", op["state"])
}

func TestCall_UpstreamFailureIsActionable(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	res := v.call(t, t.Context(), "get-api-key", map[string]any{"id": "EXO000000000000000000000000"})
	assert.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "404")
	assert.Contains(t, res.Text, schemas.Toolset("api-keys").ListHint, "the not-found hint comes from the catalog")

	v.sb.Inject(sandbox.Fault{Method: "POST", Path: "/ai/api-key", Status: 500, Count: 1})
	res = v.call(t, t.Context(), "create-ai-api-key", map[string]any{"name": "x", "scope": "public"})
	assert.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "check with list-ai-api-keys")

	v.sb.Inject(sandbox.Fault{Method: "POST", Path: "/ai/api-key/*", Status: 500, Count: 1})
	res = v.call(t, t.Context(), "rotate-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID})
	assert.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "reveal-ai-api-key shows the current value")

	v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/operation/*", Status: 403, Count: 1})
	res = v.call(t, t.Context(), "update-iam-role", map[string]any{"id": sandbox.RestrictedRoleID, "description": "x"})
	assert.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "Do not repeat the call: check with get-operation")

	v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/iam-role", InvalidJSON: true, Count: 1})
	res = v.call(t, t.Context(), "list-iam-roles", nil)
	assert.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "not a JSON object")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res = v.call(t, ctx, "list-iam-roles", nil)
	assert.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "cancelled")
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
	op, _ := schemas.Lookup("get-api-key")
	_, err := buildRequest(op, nil, map[string]any{})
	assert.Error(t, err, "a missing path parameter")
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

// TestAudit_OneLinePerChangeRefusalAndDryRun: writes, refusals and dry runs are recorded with
// their outcome word, reads and pending questions are not, and secret-named arguments never.
func TestAudit_OneLinePerChangeRefusalAndDryRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	audit, err := OpenAuditLog(path)
	require.NoError(t, err)
	v := newEnv(t, Options{Audit: audit, Transport: "test", Confirm: ConfirmOptions{Mode: ConfirmDestructive}})
	ctx := WithPeer(t.Context(), &fakePeer{session: "s1", canAsk: true})

	v.call(t, ctx, "list-api-keys", nil)                                                            // read: not audited
	v.call(t, ctx, "delete-api-key", map[string]any{"id": v.key})                                   // refused
	v.call(t, ctx, "delete-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID, "dry-run": true}) // dry run
	v.call(t, ctx, "delete-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID})                  // asks: not audited yet
	v.call(t, ctx, "create-ai-api-key", map[string]any{"name": "x", "scope": "public"})             // ok
	v.call(t, ctx, "update-ai-api-key", map[string]any{"id": sandbox.SeedAIKeyID})                  // invalid
	require.NoError(t, audit.Close())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	var outcomes []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec AuditRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		assert.Equal(t, "test", rec.Transport)
		assert.Equal(t, "s1", rec.Session)
		outcomes = append(outcomes, rec.Tool+" "+rec.Outcome)
		assert.NotContains(t, rec.Arguments, "value")
	}
	assert.Equal(t, []string{"delete-api-key refused", "delete-ai-api-key dry-run", "create-ai-api-key ok", "update-ai-api-key invalid"}, outcomes)
	assert.NotContains(t, string(must(os.ReadFile(path))), "value\":\"", "no secret value in the audit log")

	var nilLog *AuditLog
	assert.NoError(t, nilLog.Close())
	_, err = OpenAuditLog(filepath.Join(t.TempDir(), "missing", "audit.jsonl"))
	assert.Error(t, err)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestNew_RefusesBadOptions(t *testing.T) {
	t.Parallel()
	_, err := New(Options{})
	assert.Error(t, err)
	c := sandboxtest.Client(t, "https://api-ch-gva-2.exoscale.com/v2", apiclientCreds())
	_, err = New(Options{Client: c, Secrets: SecretDelivery{Mode: "email"}})
	assert.Error(t, err)
	_, err = New(Options{Client: c, Confirm: ConfirmOptions{Mode: "always"}})
	assert.Error(t, err)
	e, err := New(Options{Client: c})
	require.NoError(t, err)
	reg, err := e.NewRegistry(Filter{})
	require.NoError(t, err)
	assert.Contains(t, e.Instructions(reg), "in the results")
	e, err = New(Options{Client: c, Secrets: SecretDelivery{Mode: DeliverFile, Dir: "/tmp/x"}})
	require.NoError(t, err)
	assert.Contains(t, e.Instructions(reg), "written to a file")
}
