package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/tools/workflows"
)

// servedTools is how many tools a server with no filter serves.
func servedTools() int { return len(servedNames()) }

// compositeOK calls a composite tool that must succeed and returns its structured content.
func (s *srv) compositeOK(t *testing.T, name string, args map[string]any) map[string]any {
	t.Helper()
	res := s.call(t, name, args)
	require.False(t, res.IsError, "%s failed: %s", name, text(res))
	return structured(t, res)
}

// writes counts the requests the sandbox received that could change something.
func (e *testEnv) writes() int {
	n := 0
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		n += e.sb.Requests(m, "")
	}
	return n
}

func (e *testEnv) role(name string) (sandbox.Role, bool) {
	for _, r := range e.sb.State().Roles {
		if r.Name == name {
			return r, true
		}
	}
	return sandbox.Role{}, false
}

func (e *testEnv) apiKeys(name string) []sandbox.APIKey {
	var out []sandbox.APIKey
	for _, k := range e.sb.State().APIKeys {
		if k.Name == name {
			out = append(out, k)
		}
	}
	return out
}

// TestWorkflows_EachCompositeToolOverStdioAndHTTP drives every composite tool with the
// official SDK client over both transports: its happy path, its failure path, and that its
// dry run sends no write.
func TestWorkflows_EachCompositeToolOverStdioAndHTTP(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	for _, tr := range []struct {
		name string
		s    func() *srv
	}{
		{"stdio", func() *srv { return env.startStdio(t, nil, nil) }},
		{"http", func() *srv { return env.startHTTP(t, nil, nil, nil) }},
	} {
		// Sequential: the failure paths inject faults into the shared sandbox.
		t.Run(tr.name, func(t *testing.T) {
			s := tr.s()
			name := "wf-" + tr.name

			// create-restricted-api-key: the dry run sends nothing.
			before := env.writes()
			dry := s.compositeOK(t, workflows.CreateRestrictedKey, map[string]any{"name": name, "operations": []any{"list-zones", "list-api-keys"}, "dry-run": true})
			assert.Equal(t, true, dry["dry-run"])
			assert.Len(t, dry["requests"], 2)
			assert.Equal(t, before, env.writes(), "a dry run sends no write")

			// Happy path: one call, a role and a key; the secret in a file.
			key := s.compositeOK(t, workflows.CreateRestrictedKey, map[string]any{"name": name, "operations": []any{"list-zones", "list-api-keys"}})
			keyID := str(key, "key")
			require.NotEmpty(t, keyID)
			assert.NotContains(t, key, "secret")
			role, ok := env.role(name)
			require.True(t, ok)
			assert.Equal(t, role.ID, str(key, "role-id"))
			content, err := os.ReadFile(str(key, "secret-file"))
			require.NoError(t, err)
			secret := envValue(string(content), "EXOSCALE_API_SECRET")
			require.NotEmpty(t, secret)

			// Failure path: the key step fails, and the new role is gone afterwards.
			env.sb.Inject(sandbox.Fault{Method: http.MethodPost, Path: "/api-key", Status: http.StatusBadRequest})
			msg := s.fails(t, workflows.CreateRestrictedKey, map[string]any{"name": name + "-doomed", "operations": []any{"list-zones"}})
			assert.Contains(t, msg, "was deleted")
			_, ok = env.role(name + "-doomed")
			assert.False(t, ok, "the role this call created is gone")

			// clone-api-key: the template's role, no copy.
			before = env.writes()
			s.compositeOK(t, workflows.CloneKey, map[string]any{"template": keyID, "name": name + "-clone", "dry-run": true})
			assert.Equal(t, before, env.writes(), "a dry run sends no write")
			clone := s.compositeOK(t, workflows.CloneKey, map[string]any{"template": keyID, "name": name + "-clone"})
			assert.Equal(t, role.ID, str(clone, "role-id"))
			msg = s.fails(t, workflows.CloneKey, map[string]any{"template": "EXO00000000000000000000000", "name": name + "-x"})
			assert.Contains(t, msg, "reading the template key")

			// rotate-api-key with retire-old: one call; the old file retired, the old key gone.
			oldFile := str(key, "secret-file")
			before = env.writes()
			s.compositeOK(t, workflows.RotateKey, map[string]any{"id": keyID, "retire-old": true, "dry-run": true})
			assert.Equal(t, before, env.writes(), "a dry run sends no write")
			rot := s.compositeOK(t, workflows.RotateKey, map[string]any{"id": keyID, "retire-old": true})
			assert.FileExists(t, oldFile+".retired")
			assert.NoFileExists(t, oldFile)
			keys := env.apiKeys(name)
			require.Len(t, keys, 1)
			assert.NotEqual(t, keyID, keys[0].Key)
			assert.Equal(t, keys[0].Key, str(rot["new-key"].(map[string]any), "key"))
			msg = s.fails(t, workflows.RotateKey, map[string]any{"id": env.key})
			assert.Contains(t, msg, "signs with")

			// audit-iam-keys and get-server-identity: read-only, one call each.
			before = env.writes()
			audit := s.compositeOK(t, workflows.AuditKeys, nil)
			assert.NotEmpty(t, audit["findings"])
			assert.Contains(t, text(s.call(t, workflows.AuditKeys, nil)), "the server's own key")
			msg = s.fails(t, workflows.AuditKeys, map[string]any{"inactive-days": 0})
			assert.Contains(t, msg, "inactive-days")
			id := s.compositeOK(t, workflows.ServerIdentity, nil)
			assert.Equal(t, env.key, str(id["key"].(map[string]any), "id"))
			assert.Equal(t, sandbox.AdminRoleID, str(id["role"].(map[string]any), "id"))
			msg = s.fails(t, workflows.ServerIdentity, map[string]any{"bogus": true})
			assert.Contains(t, msg, "bogus")
			assert.Equal(t, before, env.writes(), "audit and identity change nothing")
		})
	}
}

// TestWorkflows_RestrictedKeyIsRestrictedForASecondServer runs a second server with the key
// create-restricted-api-key made: the sandbox answers 403 outside its operations.
func TestWorkflows_RestrictedKeyIsRestrictedForASecondServer(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startHTTP(t, nil, nil, nil)
	key := s.compositeOK(t, workflows.CreateRestrictedKey, map[string]any{"name": "second-server", "operations": []any{"list-zones", "list-api-keys"}})
	content, err := os.ReadFile(str(key, "secret-file"))
	require.NoError(t, err)
	creds := map[string]string{
		"EXOSCALE_API_KEY":    envValue(string(content), "EXOSCALE_API_KEY"),
		"EXOSCALE_API_SECRET": envValue(string(content), "EXOSCALE_API_SECRET"),
	}
	second := env.startStdio(t, creds, nil)
	assert.NotEmpty(t, second.ok(t, "list-api-keys", nil)["api-keys"], "an allowed operation")
	msg := second.fails(t, "list-iam-roles", nil)
	assert.Contains(t, msg, "403")

	// And a direct signed client agrees.
	c, err := apiclient.New(apiclient.Config{Endpoint: env.endpoint, Credentials: apiclient.Credentials{Key: creds["EXOSCALE_API_KEY"], Secret: creds["EXOSCALE_API_SECRET"]}})
	require.NoError(t, err)
	_, err = c.Do(context.Background(), apiclient.Request{Operation: "list-ai-api-keys", Method: http.MethodGet, Path: "/ai/api-key"})
	var apiErr *apiclient.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusForbidden, apiErr.Status)
}

func TestWorkflows_PromptsAreServed(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startHTTP(t, nil, nil, nil)
	ctx := context.Background()
	list, err := s.session.ListPrompts(ctx, nil)
	require.NoError(t, err)
	var names []string
	for _, p := range list.Prompts {
		names = append(names, p.Name)
	}
	assert.Subset(t, names, []string{"create-restricted-key", "rotate-key", "review-key-hygiene"})
	got, err := s.session.GetPrompt(ctx, &sdk.GetPromptParams{Name: "rotate-key", Arguments: map[string]string{"key": "ci-deploy"}})
	require.NoError(t, err)
	require.NotEmpty(t, got.Messages)
	txt := got.Messages[0].Content.(*sdk.TextContent).Text
	assert.Contains(t, txt, "ci-deploy")
	assert.True(t, strings.Contains(txt, workflows.RotateKey))
}

// TestWorkflows_RotationAsksOnceForItsWholePlan: under --confirm destructive, a rotation that
// retires the old key asks the human once, before anything is sent; a no leaves everything.
func TestWorkflows_RotationAsksOnceForItsWholePlan(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	old := env.apiKeys(sandbox.RestrictedKeyName)[0]

	no := &elicitingClient{}
	s := env.startStdio(t, nil, no.options(), "--confirm", "destructive")
	before := env.writes()
	msg := s.fails(t, workflows.RotateKey, map[string]any{"id": old.Key, "retire-old": true})
	assert.Contains(t, msg, "declined")
	assert.Equal(t, before, env.writes(), "nothing sent after a no")
	require.Len(t, no.asked(), 1)
	assert.Contains(t, no.asked()[0], old.Key)

	yes := &elicitingClient{yes: true}
	s = env.startHTTP(t, nil, yes.options(), nil, "--confirm", "destructive")
	s.compositeOK(t, workflows.RotateKey, map[string]any{"id": old.Key, "retire-old": true})
	assert.Len(t, yes.asked(), 1, "one question for create and delete together")
	keys := env.apiKeys(sandbox.RestrictedKeyName)
	require.Len(t, keys, 1)
	assert.NotEqual(t, old.Key, keys[0].Key)
}
