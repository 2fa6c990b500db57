package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// resultJSON is everything a tool result shows the model: text and structured content.
func resultJSON(t *testing.T, res *sdk.CallToolResult) string {
	t.Helper()
	b, err := json.Marshal(res)
	require.NoError(t, err)
	return string(b)
}

func TestSecretDelivery_FileByDefault_TheModelNeverSeesTheSecret(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil)
	res := s.call(t, "create-api-key", map[string]any{"name": "ci", "role-id": sandbox.RestrictedRoleID})
	require.False(t, res.IsError, text(res))
	out := structured(t, res)
	path := str(out, "secret-file")
	require.True(t, filepath.IsAbs(path))
	assert.True(t, strings.HasPrefix(path, filepath.Join(env.state, "exoscale-keys-mcp", "secrets")), path)
	assert.Contains(t, text(res), path)
	assert.Contains(t, str(out, "usage"), "EXOSCALE_API_SECRET")

	content, err := os.ReadFile(path)
	require.NoError(t, err)
	secret := envValue(string(content), "EXOSCALE_API_SECRET")
	require.NotEmpty(t, secret)
	assert.Contains(t, env.sb.Secrets(), secret, "the file holds the secret the sandbox minted")
	assert.NotContains(t, resultJSON(t, res), secret)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
}

func TestSecretDelivery_Inline_ShownOnceWithANote(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	for _, s := range []*srv{
		env.startStdio(t, nil, nil, "--secret-delivery", "inline"),
		env.startStdio(t, map[string]string{"EXOSCALE_MCP_SECRET_DELIVERY": "inline"}, nil),
	} {
		res := s.call(t, "create-api-key", map[string]any{"name": "inline", "role-id": sandbox.RestrictedRoleID, "allow-duplicate-name": true})
		require.False(t, res.IsError, text(res))
		out := structured(t, res)
		assert.NotEmpty(t, str(out, "secret"))
		assert.Contains(t, env.sb.Secrets(), str(out, "secret"))
		assert.Contains(t, text(res), "shows it once")
		assert.NotContains(t, out, "secret-file")
	}
}

func TestSecretDelivery_UnusableDirectory_NoKeyIsMinted(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o600))
	s := env.startStdio(t, nil, nil, "--secrets-dir", notADir)
	msg := s.fails(t, "create-api-key", map[string]any{"name": "lost", "role-id": sandbox.RestrictedRoleID})
	assert.Contains(t, msg, "no secret was minted")
	assert.Contains(t, msg, "--secrets-dir")
	msg = s.fails(t, "create-ai-api-key", map[string]any{"name": "lost", "scope": "public"})
	assert.Contains(t, msg, "no secret was minted")
	assert.Zero(t, env.sb.Requests("POST", "/api-key"))
	assert.Zero(t, env.sb.Requests("POST", "/ai/api-key"))
	// Reads still work.
	s.ok(t, "list-api-keys", nil)
}

func TestGuard_SelfLockoutRefused(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil)
	denyIAM := map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "deny"}}}
	denyAll := map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}

	cases := []struct {
		tool string
		args map[string]any
	}{
		{"delete-api-key", map[string]any{"id": env.key}},
		{"delete-iam-role", map[string]any{"id": sandbox.AdminRoleID}},
		{"update-iam-role-policy", withPolicy(map[string]any{"id": sandbox.AdminRoleID}, denyIAM)},
		{"update-iam-role-policy", withPolicy(map[string]any{"id": sandbox.AdminRoleID}, denyAll)},
		{"update-iam-organization-policy", denyIAM},
		{"update-iam-organization-policy", denyAll},
		// The same ids in another case name the same objects.
		{"delete-api-key", map[string]any{"id": "EXO" + strings.ToUpper(env.key[3:])}},
		{"delete-iam-role", map[string]any{"id": strings.ToUpper(sandbox.AdminRoleID)}},
		{"update-iam-role-policy", withPolicy(map[string]any{"id": strings.ToUpper(sandbox.AdminRoleID)}, denyAll)},
		// A rules service whose rules allow nothing denies everything. (Without any rule the
		// policy check refuses it first.)
		{"update-iam-organization-policy", map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "rules", "rules": []any{
			map[string]any{"action": "allow", "expression": "false"}}}}}},
	}
	for _, c := range cases {
		msg := s.fails(t, c.tool, c.args)
		assert.Contains(t, msg, "refused", c.tool)
		assert.Contains(t, msg, "lock this server out", c.tool)
		assert.Contains(t, msg, "--allow-self-lockout", c.tool)
		// A tool argument cannot lift it.
		args := map[string]any{"allow-self-lockout": true}
		for k, v := range c.args {
			args[k] = v
		}
		assert.Contains(t, s.fails(t, c.tool, args), "unknown argument")
	}
	assert.Zero(t, env.sb.Requests("DELETE", "/api-key/*"))
	assert.Zero(t, env.sb.Requests("DELETE", "/iam-role/*"))
	assert.Zero(t, env.sb.Requests("PUT", "/iam-role/*"))
	assert.Zero(t, env.sb.Requests("PUT", "/iam-organization-policy"))

	// What does not lock the server out goes through.
	// (compute too: waiting on the operation needs get-operation.)
	s.ok(t, "update-iam-organization-policy", map[string]any{"default-service-strategy": "deny", "services": map[string]any{
		"iam": map[string]any{"type": "allow"}, "compute": map[string]any{"type": "allow"}}})
	s.ok(t, "reset-iam-organization-policy", nil)
	s.ok(t, "update-iam-role-policy", withPolicy(map[string]any{"id": sandbox.RestrictedRoleID}, denyAll))
}

func TestGuard_OperatorCanLiftSelfLockout(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil, "--allow-self-lockout")
	res := s.call(t, "update-iam-role-policy", withPolicy(map[string]any{"id": sandbox.AdminRoleID},
		map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "deny"}}}))
	assert.False(t, res.IsError, text(res))
	assert.Equal(t, 1, env.sb.Requests("PUT", "/iam-role/*"))
	// The server has now locked itself out: the sandbox enforces the policy it was given.
	assert.Contains(t, strings.ToLower(s.fails(t, "list-api-keys", nil)), "forbidden")
}

// TestGuard_OwnKeyLookupFails_RefusedAndNotRemembered: when the server cannot read its own
// key (here a 404), it cannot tell its role, so the role guards refuse (fail closed) and say
// why; the failure is not cached, so the next call reads again and goes through.
func TestGuard_OwnKeyLookupFails_RefusedAndNotRemembered(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil)
	env.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key/" + env.key, Status: 404, Count: 1})
	msg := s.fails(t, "delete-iam-role", map[string]any{"id": sandbox.RestrictedRoleID})
	assert.Contains(t, msg, "refused")
	assert.Contains(t, msg, "could not look up the role of the server's own key")
	assert.Contains(t, msg, "--allow-self-lockout")
	assert.Zero(t, env.sb.Requests("DELETE", "/iam-role/*"), "nothing was sent")
	// The failure was not remembered: the next call reads the key again and is served.
	// (The sandbox answers 409: a key still acts as that role. What matters is that it was sent.)
	res := s.call(t, "delete-iam-role", map[string]any{"id": sandbox.RestrictedRoleID})
	assert.NotContains(t, text(res), "refused")
	assert.Equal(t, 1, env.sb.Requests("DELETE", "/iam-role/*"), "the call was sent")
	// The organization-policy guard needs no lookup and still applies.
	assert.Contains(t, s.fails(t, "update-iam-organization-policy", map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}), "lock this server out")
}

func TestDuplicateCreate_ReturnsTheExistingObject(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil, "--secret-delivery", "inline")
	cases := []struct {
		tool, list, idField string
		args                map[string]any
	}{
		{"create-api-key", "/api-key", "key", map[string]any{"name": "dup-key", "role-id": sandbox.RestrictedRoleID}},
		{"create-ai-api-key", "/ai/api-key", "id", map[string]any{"name": "dup ai", "scope": "public"}},
		{"create-iam-role", "/iam-role", "id", map[string]any{"name": "dup-role"}},
	}
	for _, c := range cases {
		first := s.ok(t, c.tool, c.args)
		id := str(first, c.idField)
		require.NotEmpty(t, id)
		msg := s.fails(t, c.tool, c.args)
		assert.Contains(t, msg, id, c.tool)
		assert.Contains(t, msg, "allow-duplicate-name", c.tool)
		assert.Equal(t, 1, env.sb.Requests("POST", c.list), "%s: the retried create was not sent", c.tool)

		args := map[string]any{"allow-duplicate-name": true}
		for k, v := range c.args {
			args[k] = v
		}
		second := s.ok(t, c.tool, args)
		assert.NotEqual(t, id, str(second, c.idField))
		assert.Equal(t, 2, env.sb.Requests("POST", c.list))
	}
}

// elicitingClient answers every confirmation with yes or no and remembers the questions.
type elicitingClient struct {
	mu       sync.Mutex
	yes      bool
	messages []string
}

func (e *elicitingClient) options() *sdk.ClientOptions {
	return &sdk.ClientOptions{ElicitationHandler: func(_ context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.messages = append(e.messages, req.Params.Message)
		if !e.yes {
			return &sdk.ElicitResult{Action: "decline"}, nil
		}
		return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
	}}
}

func (e *elicitingClient) asked() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.messages...)
}

func TestConfirm_HumanApprovesOrDeclines(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	setup := env.startStdio(t, nil, nil, "--secret-delivery", "inline")
	k1 := str(setup.ok(t, "create-api-key", map[string]any{"name": "deploy-bot", "role-id": sandbox.RestrictedRoleID}), "key")
	k2 := str(setup.ok(t, "create-api-key", map[string]any{"name": "ci-other", "role-id": sandbox.RestrictedRoleID}), "key")

	no := &elicitingClient{}
	s := env.startStdio(t, nil, no.options(), "--confirm", "destructive")
	msg := s.fails(t, "delete-api-key", map[string]any{"id": k1})
	assert.Contains(t, msg, "declined")
	assert.Contains(t, msg, "Nothing changed")
	assert.Zero(t, env.sb.Requests("DELETE", "/api-key/*"))
	require.Len(t, no.asked(), 1)
	assert.Contains(t, no.asked()[0], k1)
	assert.Contains(t, no.asked()[0], "'deploy-bot'")
	assert.Contains(t, no.asked()[0], "(role '")
	assert.Contains(t, no.asked()[0], "cannot be undone")
	// Reads are never asked about.
	s.ok(t, "list-api-keys", nil)
	assert.Len(t, no.asked(), 1)

	yes := &elicitingClient{yes: true}
	s = env.startStdio(t, nil, yes.options(), "--confirm", "destructive")
	s.ok(t, "delete-api-key", map[string]any{"id": k1})
	assert.Equal(t, 1, env.sb.Requests("DELETE", "/api-key/*"))
	assert.Len(t, yes.asked(), 1)

	// --confirm writes asks before a create too.
	yes2 := &elicitingClient{yes: true}
	s = env.startStdio(t, nil, yes2.options(), "--confirm", "writes", "--secret-delivery", "inline")
	s.ok(t, "create-iam-role", map[string]any{"name": "asked-first"})
	s.ok(t, "create-api-key", map[string]any{"name": "asked-too", "role-id": sandbox.RestrictedRoleID})
	require.Len(t, yes2.asked(), 2)
	assert.Contains(t, yes2.asked()[0], "'asked-first'")
	assert.Contains(t, yes2.asked()[1], "'asked-too' (role '"+sandbox.RestrictedRoleName+"')")

	// A client that cannot elicit: denied by default, allowed when the operator says so.
	s = env.startStdio(t, nil, nil, "--confirm", "destructive")
	assert.Contains(t, s.fails(t, "delete-api-key", map[string]any{"id": k2}), "--confirm-fallback allow")
	assert.Equal(t, 1, env.sb.Requests("DELETE", "/api-key/*"))
	s = env.startStdio(t, nil, nil, "--confirm", "destructive", "--confirm-fallback", "allow")
	s.ok(t, "delete-api-key", map[string]any{"id": k2})
	assert.Equal(t, 2, env.sb.Requests("DELETE", "/api-key/*"))
}

func TestDryRun_ShowsTheRequestAndSendsNothing(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil)
	before := env.sb.Requests("", "")
	out := s.ok(t, "delete-iam-role", map[string]any{"id": sandbox.RestrictedRoleID, "dry-run": true})
	assert.Equal(t, "DELETE", str(out, "method"))
	assert.Equal(t, env.endpoint+"/iam-role/"+sandbox.RestrictedRoleID, str(out, "url"))
	assert.NotContains(t, out, "authorization", "no authorization line, not even a masked one")
	assert.Equal(t, "/v2/iam-role/"+sandbox.RestrictedRoleID, str(out, "path"))
	assert.Contains(t, str(out, "signing"), "EXO2-HMAC-SHA256")

	out = s.ok(t, "create-api-key", map[string]any{"name": "preview", "role-id": sandbox.RestrictedRoleID, "dry-run": true})
	assert.Equal(t, map[string]any{"name": "preview", "role-id": sandbox.RestrictedRoleID}, out["body"])
	// Guards run on dry runs too.
	assert.Contains(t, s.fails(t, "delete-api-key", map[string]any{"id": env.key, "dry-run": true}), "refused")

	// Only the guards' own reads reached the sandbox: no write.
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		assert.Zero(t, env.sb.Requests(m, ""), m)
	}
	assert.Greater(t, env.sb.Requests("", ""), before) // the duplicate check listed keys
}

func TestExposure_ReadOnlyAndFilters(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil, "--read-only")
	names := toolNames(t, s)
	assert.Contains(t, names, "list-api-keys")
	for _, n := range names {
		assert.False(t, strings.HasPrefix(n, "create-") || strings.HasPrefix(n, "delete-") || strings.HasPrefix(n, "reveal-") ||
			strings.HasPrefix(n, "update-") || strings.HasPrefix(n, "rotate-") || strings.HasPrefix(n, "reset-"), n)
	}
	// Not callable: the model reads that it is not served here, and nothing is sent.
	res, err := s.session.CallTool(context.Background(), &sdk.CallToolParams{Name: "delete-api-key", Arguments: map[string]any{"id": "EXO1"}})
	require.NoError(t, err)
	require.True(t, res.IsError, "a tool that is not exposed must not be callable")
	assert.Contains(t, text(res), "not served here")
	assert.Zero(t, env.sb.Requests("DELETE", ""))

	s = env.startStdio(t, nil, nil, "--toolsets", "api-keys,iam-roles", "--exclude-tools", "delete-iam-role")
	names = toolNames(t, s)
	assert.Contains(t, names, "create-api-key")
	assert.Contains(t, names, "get-iam-role")
	assert.NotContains(t, names, "delete-iam-role")
	assert.NotContains(t, names, "list-ai-api-keys")
}

func TestAuditLog_OneLinePerChangeRefusalAndDryRun(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s := env.startStdio(t, nil, nil, "--audit-log", path)
	s.ok(t, "list-api-keys", nil)
	key := str(s.ok(t, "create-api-key", map[string]any{"name": "audited", "role-id": sandbox.RestrictedRoleID}), "key")
	s.ok(t, "delete-api-key", map[string]any{"id": key, "dry-run": true})
	s.fails(t, "delete-api-key", map[string]any{"id": env.key})
	s.ok(t, "delete-api-key", map[string]any{"id": key})

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	require.Len(t, lines, 4, "list is not audited: %s", raw)
	var recs []map[string]any
	for _, l := range lines {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		recs = append(recs, r)
	}
	want := []struct{ tool, outcome string }{
		{"create-api-key", "ok"}, {"delete-api-key", "dry-run"}, {"delete-api-key", "refused"}, {"delete-api-key", "ok"},
	}
	for i, w := range want {
		assert.Equal(t, w.tool, recs[i]["tool"])
		assert.Equal(t, w.outcome, recs[i]["outcome"])
		assert.Equal(t, "stdio", recs[i]["transport"])
		assert.NotEmpty(t, recs[i]["time"])
	}
	assert.Equal(t, float64(200), recs[0]["upstream-status"])
	assert.Contains(t, recs[0]["ids"], key)
	assert.Equal(t, "audited", recs[0]["arguments"].(map[string]any)["name"])
	assert.Contains(t, recs[3]["ids"], key)
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// TestSecretScan runs the whole workflow with debug logs and the audit log on, and searches
// every secret the sandbox minted, the server's own API secret and the bearer token in
// stderr, the audit log and every tool result: none may appear outside the 0600 secret files.
func TestSecretScan_NoSecretOutsideTheSecretFiles(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	const token = "tok-3f9a1c7e5b2d4a6f8e0c1b3d5f7a9e2c"
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	hc := &http.Client{Transport: bearer{token: token, next: http.DefaultTransport}}
	s := env.startHTTP(t, map[string]string{"EXOSCALE_MCP_AUTH_TOKEN": token}, nil, hc, "--log-level", "debug", "--audit-log", audit)

	var results []string
	call := func(name string, args map[string]any) map[string]any {
		res := s.call(t, name, args)
		results = append(results, resultJSON(t, res))
		if res.IsError {
			return nil
		}
		return structured(t, res)
	}
	role := str(call("create-iam-role", map[string]any{"name": "scan-role", "policy": restrictedPolicy()}), "id")
	key := str(call("create-api-key", map[string]any{"name": "scan-key", "role-id": role}), "key")
	call("create-api-key", map[string]any{"name": "scan-key", "role-id": role}) // refused duplicate
	call("list-api-keys", nil)
	ai := str(call("create-ai-api-key", map[string]any{"name": "scan ai", "scope": sandbox.PrivateDeploymentID}), "id")
	call("rotate-ai-api-key", map[string]any{"id": ai})
	call("reveal-ai-api-key", map[string]any{"id": ai})
	call("reveal-deployment-api-key", map[string]any{"id": sandbox.PublicDeploymentID})
	call("delete-api-key", map[string]any{"id": env.key}) // refused: own key
	call("delete-api-key", map[string]any{"id": key, "dry-run": true})
	call("delete-api-key", map[string]any{"id": key})
	call("delete-ai-api-key", map[string]any{"id": ai})
	call("delete-iam-role", map[string]any{"id": role})
	call("get-api-key", map[string]any{"id": "EXO000000000000000000000000"}) // 404

	auditLog, err := os.ReadFile(audit)
	require.NoError(t, err)
	secrets := append(env.sb.Secrets(), env.secret, token)
	require.Greater(t, len(secrets), 6)
	haystacks := map[string]string{"stderr": s.stderr.String(), "audit log": string(auditLog)}
	for i, r := range results {
		haystacks["result "+string(rune('a'+i))] = r
	}
	require.NotEmpty(t, s.stderr.String(), "debug logging was on")
	for name, h := range haystacks {
		for _, secret := range secrets {
			require.NotEmpty(t, secret)
			assert.NotContains(t, h, secret, "a secret leaked into %s", name)
		}
	}
	// The minted secrets are in the secret files, and only there. The AI key's file from
	// create was retired by the rotation (it held the old value); the files of the deleted
	// keys (the IAM key's, and the AI key's from rotate and reveal) were set aside on delete.
	files, err := filepath.Glob(filepath.Join(env.state, "exoscale-keys-mcp", "secrets", "*.env"))
	require.NoError(t, err)
	assert.Len(t, files, 1)
	retired, err := filepath.Glob(filepath.Join(env.state, "exoscale-keys-mcp", "secrets", "*.env.retired"))
	require.NoError(t, err)
	assert.Len(t, retired, 1)
	revoked, err := filepath.Glob(filepath.Join(env.state, "exoscale-keys-mcp", "secrets", "*.env.revoked"))
	require.NoError(t, err)
	assert.Len(t, revoked, 3)
}

// TestConfirm_ModernProtocol: a 2026-07-28 client gets the question as a multi round-trip
// "input required" result, answers it and calls again; the SDK does this for us.
func TestConfirm_ModernProtocol(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, stderr := env.startHTTPServer(t, nil, "--confirm", "destructive")
	for _, yes := range []bool{false, true} {
		human := &elicitingClient{yes: yes}
		client := sdk.NewClient(&sdk.Implementation{Name: "modern", Version: "1"}, human.options())
		cs, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
		require.NoError(t, err, stderr.String())
		s := &srv{session: cs, stderr: stderr}
		res := s.call(t, "delete-iam-role", map[string]any{"id": sandbox.RestrictedRoleID})
		require.Len(t, human.asked(), 1)
		assert.Contains(t, human.asked()[0], "'"+sandbox.RestrictedRoleName+"'")
		if yes {
			assert.Equal(t, 1, env.sb.Requests("DELETE", "/iam-role/*"), text(res))
		} else {
			assert.True(t, res.IsError)
			assert.Contains(t, text(res), "declined")
			assert.Zero(t, env.sb.Requests("DELETE", "/iam-role/*"))
		}
		cs.Close()
	}
}

func TestInstructions_SayHowSecretsAreDelivered(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	file := env.startStdio(t, nil, nil).session.InitializeResult().Instructions
	inline := env.startStdio(t, nil, nil, "--secret-delivery", "inline").session.InitializeResult().Instructions
	assert.Contains(t, file, "written to a file")
	assert.Contains(t, inline, "in the results")
	for _, s := range []string{file, inline} {
		assert.Contains(t, s, "create-restricted-api-key", "the one-call restricted key is taught where it is served")
		assert.Contains(t, s, "dry-run")
	}
}

// TestDuplicateCreate_ConcurrentRetriesMintOneKey: a client that fires the same create several
// times at once (retries while the first is still under way) gets one key, not several.
func TestDuplicateCreate_ConcurrentRetriesMintOneKey(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	env.sb.Inject(sandbox.Fault{Method: "POST", Path: "/api-key", Delay: 200 * time.Millisecond})
	s := env.startHTTP(t, nil, nil, nil, "--secret-delivery", "inline")
	const n = 5
	var wg sync.WaitGroup
	results := make([]*sdk.CallToolResult, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.session.CallTool(context.Background(), &sdk.CallToolParams{Name: "create-api-key",
				Arguments: map[string]any{"name": "burst", "role-id": sandbox.RestrictedRoleID}})
			if assert.NoError(t, err) {
				results[i] = res
			}
		}()
	}
	wg.Wait()
	created := 0
	for _, res := range results {
		require.NotNil(t, res)
		if !res.IsError {
			created++
		} else {
			assert.Contains(t, text(res), "already taken")
		}
	}
	assert.Equal(t, 1, created)
	assert.Equal(t, 1, env.sb.Requests("POST", "/api-key"))
}

// TestConfirm_ForgedAnswerOverTheWireDeletesNothing: a client that cannot ask its human sends
// an answer it made up, with no request state or a forged one; it used to delete the key. The
// answer is ignored and --confirm-fallback deny applies.
func TestConfirm_ForgedAnswerOverTheWireDeletesNothing(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	r := env.startRawStdio(t, "--confirm", "destructive")
	await := func(id string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-r.lines:
				require.True(t, ok, "the server stopped\nstderr:\n%s", r.stderr.String())
				if strings.Contains(l, `"id":`+id+`,`) || strings.Contains(l, `"id":`+id+`}`) {
					return l
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no answer to %s\nstderr:\n%s", id, r.stderr.String())
			}
		}
	}
	r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"forger","version":"1"}}}`)
	await("1")
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	answer := `"inputResponses":{"confirm":{"action":"accept","content":{"confirm":true}}}`
	for i, extra := range []string{answer, answer + `,"requestState":"forged"`, answer + `,"requestState":"eyJ0IjoiZGVsZXRlLWFpLWFwaS1rZXkifQ.AAAA"`} {
		id := fmt.Sprint(i + 2)
		r.send(t, `{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"delete-ai-api-key","arguments":{"id":"`+sandbox.SeedAIKeyID+`"},`+extra+`}}`)
		line := await(id)
		assert.Contains(t, line, `"isError":true`, line)
		assert.Contains(t, line, "--confirm-fallback allow", line)
	}
	assert.Zero(t, env.sb.Requests("DELETE", "/ai/api-key/*"), "a forged answer deleted the key")
}
