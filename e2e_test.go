package main

import (
	"context"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// restrictedPolicy allows a key only a few compute operations: seed 004's "restricted key".
func restrictedPolicy() map[string]any {
	return map[string]any{
		"default-service-strategy": "deny",
		"services": map[string]any{
			"compute": map[string]any{
				"type": "rules",
				"rules": []any{map[string]any{
					"action":     "allow",
					"expression": "operation in ['list-zones','list-instances','get-instance']",
				}},
			},
		},
	}
}

func withPolicy(args map[string]any, policy map[string]any) map[string]any {
	for k, v := range policy {
		args[k] = v
	}
	return args
}

func toolNames(t *testing.T, s *srv) []string {
	t.Helper()
	res, err := s.session.ListTools(context.Background(), nil)
	require.NoError(t, err)
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	sort.Strings(names)
	return names
}

func catalogNames() []string {
	var names []string
	for _, op := range schemas.Catalog() {
		names = append(names, op.Name)
	}
	sort.Strings(names)
	return names
}

func TestStdioAndHTTP_ListTheTwentyFiveTools(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	for name, s := range map[string]*srv{
		"stdio": env.startStdio(t, nil, nil),
		"http":  env.startHTTP(t, nil, nil, nil),
	} {
		t.Run(name, func(t *testing.T) {
			names := toolNames(t, s)
			assert.Equal(t, servedNames(), names, "the catalog's tools, the IAM policy tools and the composite workflows")
		})
	}
}

// TestEveryToolAgainstTheSandbox calls each of the 25 tools at least once, over HTTP, and
// checks the sandbox saw the effect.
func TestEveryToolAgainstTheSandbox(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startHTTP(t, nil, nil, nil)
	called := map[string]bool{}
	ok := func(name string, args map[string]any) map[string]any {
		called[name] = true
		return s.ok(t, name, args)
	}

	zones := ok("list-zones", nil)
	assert.Len(t, zones["zones"], 8)
	keys := ok("list-api-keys", nil)
	assert.NotEmpty(t, keys["api-keys"])
	own := ok("get-api-key", map[string]any{"id": env.key})
	assert.Equal(t, sandbox.AdminRoleID, str(own, "role-id"))
	assert.NotEmpty(t, ok("list-iam-roles", nil)["iam-roles"])
	assert.Equal(t, sandbox.AdminRoleID, str(ok("get-iam-role", map[string]any{"id": sandbox.AdminRoleID}), "id"))

	role := ok("create-iam-role", map[string]any{"name": "e2e-role", "description": "made by the e2e test"})
	roleID := str(role, "id")
	require.NotEmpty(t, roleID, "create-iam-role returns the new role: %v", role)
	assert.Equal(t, "e2e-role", str(role, "name"))
	assert.Equal(t, "success", str(ok("update-iam-role", map[string]any{"id": roleID, "description": "changed"}), "state"))
	upd := ok("update-iam-role-policy", withPolicy(map[string]any{"id": roleID}, restrictedPolicy()))
	assert.Equal(t, "success", str(upd, "state"))
	opID := str(upd, "id")

	created := ok("create-api-key", map[string]any{"name": "e2e-key", "role-id": roleID})
	keyID := str(created, "key")
	require.NotEmpty(t, keyID)
	assert.NotContains(t, created, "secret", "the secret goes to a file, not the model")
	assert.FileExists(t, str(created, "secret-file"))
	assert.Equal(t, "success", str(ok("delete-api-key", map[string]any{"id": keyID}), "state"))

	pol := ok("get-iam-organization-policy", nil)
	assert.NotEmpty(t, str(pol, "default-service-strategy"))
	ok("update-iam-organization-policy", map[string]any{"default-service-strategy": "allow", "services": map[string]any{}})
	ok("reset-iam-organization-policy", nil)

	deps := ok("list-deployments", map[string]any{"visibility": "private"})
	require.NotEmpty(t, deps["deployments"])
	assert.Equal(t, sandbox.PrivateDeploymentID, str(ok("get-deployment", map[string]any{"id": sandbox.PrivateDeploymentID}), "id"))
	dk := ok("reveal-deployment-api-key", map[string]any{"id": sandbox.PrivateDeploymentID})
	assert.NotContains(t, dk, "api-key")
	assert.FileExists(t, str(dk, "secret-file"))

	assert.NotEmpty(t, ok("list-ai-api-keys", nil)["ai-api-keys"])
	ai := ok("create-ai-api-key", map[string]any{"name": "e2e ai key", "scope": sandbox.PrivateDeploymentID})
	aiID := str(ai, "id")
	require.NotEmpty(t, aiID)
	assert.NotContains(t, ai, "value")
	assert.Equal(t, "e2e ai key", str(ok("get-ai-api-key", map[string]any{"id": aiID}), "name"))
	assert.Equal(t, "renamed", str(ok("update-ai-api-key", map[string]any{"id": aiID, "name": "renamed"}), "name"))
	rot := ok("rotate-ai-api-key", map[string]any{"id": aiID})
	rev := ok("reveal-ai-api-key", map[string]any{"id": aiID})
	rotated, err := os.ReadFile(str(rot, "secret-file"))
	require.NoError(t, err)
	revealed, err := os.ReadFile(str(rev, "secret-file"))
	require.NoError(t, err)
	assert.Equal(t, envValue(string(rotated), "OPENAI_API_KEY"), envValue(string(revealed), "OPENAI_API_KEY"), "reveal shows the rotated value")
	assert.NotEmpty(t, envValue(string(revealed), "OPENAI_BASE_URL"), "a deployment-scoped key's file names the deployment URL")
	ok("delete-ai-api-key", map[string]any{"id": aiID})
	ok("delete-iam-role", map[string]any{"id": roleID})
	assert.Equal(t, "success", str(ok("get-operation", map[string]any{"id": opID}), "state"))

	events := ok("list-events", nil)
	assert.NotEmpty(t, events["events"], "the changes above were recorded")
	assert.NotEmpty(t, ok("list-users", nil)["users"])
	assert.Equal(t, sandbox.OrgID, str(ok("get-organization", nil), "id"))
	assumed := ok("assume-iam-role", map[string]any{"id": sandbox.RestrictedRoleID, "ttl": 900})
	assert.NotContains(t, assumed, "secret", "the short-lived secret goes to a file")
	assert.NotEmpty(t, str(assumed, "expires-at"))
	assert.FileExists(t, str(assumed, "secret-file"))

	for _, name := range catalogNames() {
		assert.True(t, called[name], "tool %s was not called", name)
	}
	st := env.sb.State()
	for _, k := range st.APIKeys {
		assert.NotEqual(t, keyID, k.Key)
	}
	for _, r := range st.Roles {
		assert.NotEqual(t, roleID, r.ID)
	}
}

func envValue(dotenv, name string) string {
	for _, line := range strings.Split(dotenv, "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestRestrictedKeyWorkflow is seed 004: a role whose policy allows only some compute
// operations, a key on it, list, delete the key, delete the role; over both transports.
func TestRestrictedKeyWorkflow(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	for name, s := range map[string]*srv{
		"stdio": env.startStdio(t, nil, nil),
		"http":  env.startHTTP(t, nil, nil, nil),
	} {
		t.Run(name, func(t *testing.T) {
			role := s.ok(t, "create-iam-role", map[string]any{"name": "compute-ro-" + name, "policy": restrictedPolicy()})
			roleID := str(role, "id")
			require.NotEmpty(t, roleID)
			assert.Equal(t, "deny", role["policy"].(map[string]any)["default-service-strategy"])

			key := s.ok(t, "create-api-key", map[string]any{"name": "restricted-" + name, "role-id": roleID})
			keyID := str(key, "key")
			file := str(key, "secret-file")
			info, err := os.Stat(file)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
			content, err := os.ReadFile(file)
			require.NoError(t, err)
			assert.Equal(t, keyID, envValue(string(content), "EXOSCALE_API_KEY"))
			secret := envValue(string(content), "EXOSCALE_API_SECRET")
			require.NotEmpty(t, secret)

			// The new key really is restricted: it may list zones' compute ops, not IAM.
			restricted, err := apiclient.New(apiclient.Config{Endpoint: env.endpoint, Credentials: apiclient.Credentials{Key: keyID, Secret: secret}})
			require.NoError(t, err)
			_, err = restricted.Do(context.Background(), apiclient.Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
			var apiErr *apiclient.Error
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, 403, apiErr.Status)

			listed := s.ok(t, "list-api-keys", nil)
			assert.Contains(t, names(listed["api-keys"], "key"), keyID)
			s.ok(t, "delete-api-key", map[string]any{"id": keyID})
			s.ok(t, "delete-iam-role", map[string]any{"id": roleID})
			assert.NotContains(t, names(s.ok(t, "list-api-keys", nil)["api-keys"], "key"), keyID)
			assert.NotContains(t, names(s.ok(t, "list-iam-roles", nil)["iam-roles"], "id"), roleID)
		})
	}
}

func names(list any, field string) []string {
	var out []string
	items, _ := list.([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, str(m, field))
		}
	}
	return out
}

func TestBadArguments_RefusedWithoutAnUpstreamRequest(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil)
	cases := []struct {
		tool string
		args map[string]any
		want []string
	}{
		{"create-api-key", map[string]any{"name": "x"}, []string{"role-id", "required"}},
		{"create-api-key", map[string]any{"name": "x", "role-id": "not-a-uuid"}, []string{"role-id", "not-a-uuid"}},
		{"create-ai-api-key", map[string]any{"name": strings.Repeat("a", 51), "scope": "public"}, []string{"name", "50"}},
		{"create-ai-api-key", map[string]any{"name": "ok", "scope": "everything"}, []string{"scope", "public"}},
		{"get-api-key", map[string]any{"id": "EXOabc", "colour": "red"}, []string{"colour", "allowed"}},
		{"list-deployments", map[string]any{"visibility": "all"}, []string{"visibility", "private"}},
		{"update-ai-api-key", map[string]any{"id": sandbox.PrivateDeploymentID}, []string{"name", "scope"}},
		{"update-iam-organization-policy", map[string]any{"default-service-strategy": "maybe", "services": map[string]any{}}, []string{"default-service-strategy"}},
	}
	before := env.sb.Requests("", "")
	for _, c := range cases {
		msg := s.fails(t, c.tool, c.args)
		for _, w := range c.want {
			assert.Contains(t, msg, w, "%s %v", c.tool, c.args)
		}
		assert.Contains(t, msg, "Nothing was sent")
	}
	assert.Equal(t, before, env.sb.Requests("", ""), "no request reached the sandbox")
}

func TestUpstreamErrors_RelayedAsActionableResults(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil)

	msg := s.fails(t, "get-api-key", map[string]any{"id": "EXO000000000000000000000000"})
	assert.Contains(t, msg, "404")
	assert.Contains(t, msg, "list-api-keys")

	// A key on the restricted role is forbidden IAM: its server relays the 403 with advice.
	admin := env.startHTTP(t, nil, nil, nil)
	key := admin.ok(t, "create-api-key", map[string]any{"name": "limited", "role-id": sandbox.RestrictedRoleID})
	content, err := os.ReadFile(str(key, "secret-file"))
	require.NoError(t, err)
	limited := env.startStdio(t, map[string]string{
		"EXOSCALE_API_KEY":    str(key, "key"),
		"EXOSCALE_API_SECRET": envValue(string(content), "EXOSCALE_API_SECRET"),
	}, nil)
	msg = limited.fails(t, "list-api-keys", nil)
	assert.Contains(t, msg, "403")
	assert.Contains(t, strings.ToLower(msg), "forbidden by role policy")
	// The key may not call IAM: the advice sends the operator, not the model, to change the
	// role, and proposes no IAM call with this key.
	assert.Contains(t, msg, "the operator must allow list-api-keys")
	assert.NotContains(t, msg, "update-iam-role-policy")
}

// TestStdioBinary_Sandbox spawns the built binary as a client would, with --sandbox and no
// Exoscale variable set.
func TestStdioBinary_Sandbox(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "stdio", "--sandbox")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	require.NoError(t, err)
	defer cs.Close()
	s := &srv{session: cs, stderr: stderr}
	assert.Equal(t, servedNames(), toolNames(t, s))
	assert.NotEmpty(t, s.ok(t, "list-api-keys", nil)["api-keys"])
	assert.Contains(t, stderr.String(), "sandbox")
}

// TestProgress_EachPollOfAnAwaitedOperationIsReported: a client that sends a progressToken
// gets a notification per poll while the operation is pending, over both transports.
func TestProgress_EachPollOfAnAwaitedOperationIsReported(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, sandbox.WithPendingPolls(3))
	for _, transport := range []string{"stdio", "http"} {
		t.Run(transport, func(t *testing.T) {
			var mu sync.Mutex
			var got []*sdk.ProgressNotificationParams
			opts := &sdk.ClientOptions{ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, req.Params)
			}}
			var s *srv
			if transport == "stdio" {
				s = env.startStdio(t, nil, opts)
			} else {
				s = env.startHTTP(t, nil, opts, nil)
			}
			params := &sdk.CallToolParams{Name: "create-iam-role", Arguments: map[string]any{"name": "progress-" + transport}}
			params.SetProgressToken("tok-" + transport)
			res, err := s.session.CallTool(context.Background(), params)
			require.NoError(t, err)
			require.False(t, res.IsError, text(res))
			// Notifications may trail the result on the wire: wait for them, bounded.
			for i := 0; i < 200; i++ {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n >= 4 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			require.GreaterOrEqual(t, len(got), 4, "3 pending polls and the final one")
			for i, p := range got {
				assert.Equal(t, "tok-"+transport, p.ProgressToken)
				assert.Equal(t, float64(i+1), p.Progress)
				assert.Contains(t, p.Message, "create-iam-role")
			}
		})
	}
}

// TestWaitTimeout_AnOperationThatNeverSettlesEndsTheCall: the call ends after --wait-timeout
// and tells the model to follow up with get-operation rather than repeat the change.
func TestWaitTimeout_AnOperationThatNeverSettlesEndsTheCall(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, sandbox.WithPendingPolls(1_000_000))
	s := env.startStdio(t, nil, nil, "--wait-timeout", "300ms")
	msg := s.fails(t, "update-iam-role", map[string]any{"id": sandbox.RestrictedRoleID, "description": "never settles"})
	assert.Contains(t, msg, "accepted the request")
	assert.Contains(t, msg, "Do not repeat the call")
	assert.Contains(t, msg, "get-operation")
	assert.Equal(t, 1, env.sb.Requests("PUT", "/iam-role/*"))
	assert.Greater(t, env.sb.Requests("GET", "/operation/*"), 1, "it polled until the limit")
}
