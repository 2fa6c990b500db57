package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// servedNames are the tools a server with no filter lists: the catalog's and the IAM policy
// tools.
func servedNames() []string {
	names := append(catalogNames(), "check-iam-access", "list-iam-operations")
	slices.Sort(names)
	return names
}

// iamResults indexes check-iam-access's results by operation.
func iamResults(t *testing.T, out map[string]any) map[string]map[string]any {
	t.Helper()
	rs, ok := out["results"].([]any)
	require.True(t, ok, "results: %v", out)
	m := map[string]map[string]any{}
	for _, r := range rs {
		rr := r.(map[string]any)
		m[rr["operation"].(string)] = rr
	}
	return m
}

// okValue calls a tool that must succeed and returns its structured content.
func okValue(t *testing.T, s *srv, name string, args map[string]any) map[string]any {
	t.Helper()
	res := s.call(t, name, args)
	require.False(t, res.IsError, "%s failed: %s", name, text(res))
	return structured(t, res)
}

// TestIAMPolicyTools_EndToEnd drives list-iam-operations, check-iam-access (on a role, a key
// and a draft policy), the resources and a refused policy through the official SDK client,
// over stdio and HTTP, against --sandbox.
func TestIAMPolicyTools_EndToEnd(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	for name, s := range map[string]*srv{
		"stdio": env.startStdio(t, nil, nil, "--sandbox"),
		"http":  env.startHTTP(t, nil, nil, nil, "--sandbox"),
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, servedNames(), toolNames(t, s))

			sum := okValue(t, s, "list-iam-operations", nil)
			assert.EqualValues(t, 374, sum["total"])
			assert.NotContains(t, sum, "operations")
			list := okValue(t, s, "list-iam-operations", map[string]any{"service": "iam", "match": "role-policy"})
			assert.Contains(t, list["operations"], map[string]any{"operation": "update-iam-role-policy", "service": "iam", "method": "PUT", "path": "/iam-role/{id}:policy", "access": "write"})

			// On a role: the restricted role denies create-api-key, with a fix.
			out := okValue(t, s, "check-iam-access", map[string]any{"role-id": sandbox.RestrictedRoleID, "operations": []any{"list-instances", "create-api-key"}})
			d := iamResults(t, out)
			assert.Equal(t, "allow", d["list-instances"]["decision"])
			assert.Equal(t, "deny", d["create-api-key"]["decision"])
			assert.Equal(t, "role", d["create-api-key"]["layer"])
			fix := d["create-api-key"]["fix"].([]any)[0].(map[string]any)
			assert.Equal(t, "update-iam-role-policy", fix["tool"])

			// On a key: the server's own, on the admin role.
			keys := okValue(t, s, "list-api-keys", nil)
			var own string
			for _, k := range keys["api-keys"].([]any) {
				if m := k.(map[string]any); m["name"] == sandbox.ServerKeyName {
					own = m["key"].(string)
				}
			}
			require.NotEmpty(t, own)
			out = okValue(t, s, "check-iam-access", map[string]any{"api-key": own, "operations": []any{"delete-iam-role", "get-operation"}})
			assert.Equal(t, sandbox.AdminRoleID, out["subject"].(map[string]any)["role-id"])
			for op, r := range iamResults(t, out) {
				assert.Equal(t, "allow", r["decision"], op)
			}

			// On a draft policy: conditional on the zone until the zone is given.
			draft := map[string]any{"default-service-strategy": "deny", "services": map[string]any{"compute": map[string]any{"type": "rules",
				"rules": []any{map[string]any{"action": "allow", "expression": "zone == 'de-fra-1' && operation == 'list-instances'"}}}}}
			out = okValue(t, s, "check-iam-access", map[string]any{"policy": draft, "operations": []any{"list-instances"}})
			assert.Equal(t, "conditional", iamResults(t, out)["list-instances"]["decision"])
			assert.Equal(t, []any{"zone"}, iamResults(t, out)["list-instances"]["depends-on"])
			out = okValue(t, s, "check-iam-access", map[string]any{"policy": draft, "zone": "de-fra-1", "operations": []any{"list-instances"}})
			assert.Equal(t, "allow", iamResults(t, out)["list-instances"]["decision"])

			// A refused policy: nothing is sent, the role keeps its policy.
			before := okValue(t, s, "get-iam-role", map[string]any{"id": sandbox.RestrictedRoleID})["policy"]
			msg := s.fails(t, "update-iam-role-policy", map[string]any{"id": sandbox.RestrictedRoleID, "default-service-strategy": "deny",
				"services": map[string]any{"compute": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": "operation == 'list-instancez'"}}}}})
			assert.Contains(t, msg, "services.compute.rules[0]")
			assert.Contains(t, msg, "did you mean list-instances?")
			assert.Contains(t, msg, "nothing was sent")
			assert.Equal(t, before, okValue(t, s, "get-iam-role", map[string]any{"id": sandbox.RestrictedRoleID})["policy"])

			// The bypass on the server's own role is refused by the evaluating guard.
			msg = s.fails(t, "update-iam-role-policy", map[string]any{"id": sandbox.AdminRoleID, "default-service-strategy": "allow",
				"services": map[string]any{"iam": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": "false"}}}}})
			assert.Contains(t, msg, "lock this server out")
			okValue(t, s, "list-iam-roles", nil)

			// The resources.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			guide, err := s.session.ReadResource(ctx, &sdk.ReadResourceParams{URI: "exoscale://iam/policy-guide"})
			require.NoError(t, err)
			assert.Contains(t, guide.Contents[0].Text, "default-service-strategy")
			one, err := s.session.ReadResource(ctx, &sdk.ReadResourceParams{URI: "exoscale://api/operations/update-iam-role-policy"})
			require.NoError(t, err)
			var op map[string]any
			require.NoError(t, json.Unmarshal([]byte(one.Contents[0].Text), &op))
			assert.Equal(t, "/iam-role/{id}:policy", op["path"])
			cat, err := s.session.ReadResource(ctx, &sdk.ReadResourceParams{URI: "exoscale://iam/operations"})
			require.NoError(t, err)
			assert.Equal(t, 374, strings.Count(cat.Contents[0].Text, `"operation":`))
		})
	}
}

// TestToolsList_TokenBudget measures what the model sees of each tool as a client receives
// tools/list (name, description and input schema as compact JSON, counted as bytes/4): at
// most 250 tokens per tool, 150 on average.
func TestToolsList_TokenBudget(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	s := env.startStdio(t, nil, nil, "--sandbox")
	res, err := s.session.ListTools(context.Background(), nil)
	require.NoError(t, err)
	require.NotEmpty(t, res.Tools)
	total := 0
	for _, tool := range res.Tools {
		schema, err := json.Marshal(tool.InputSchema)
		require.NoError(t, err)
		tokens := (len(tool.Name) + len(tool.Description) + len(schema)) / 4
		total += tokens
		t.Logf("%-32s %4d tokens", tool.Name, tokens)
		assert.LessOrEqual(t, tokens, 250, "%s: %d model-visible tokens", tool.Name, tokens)
	}
	mean := float64(total) / float64(len(res.Tools))
	t.Logf("%d tools, mean %.1f tokens", len(res.Tools), mean)
	assert.LessOrEqual(t, mean, 150.0, "mean model-visible tokens per tool")
}
