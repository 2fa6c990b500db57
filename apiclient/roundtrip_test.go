package apiclient_test

// The apiclient against the sandbox: two independent implementations of the signing scheme
// and of the API's shapes must agree on every operation.

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

func TestRoundTrip_EveryOperationAgainstTheSandbox(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.WithPendingPolls(2))
	hs := httptest.NewServer(sb)
	t.Cleanup(hs.Close)
	key, secret := sb.ServerCredentials()
	c, err := apiclient.New(apiclient.Config{
		Endpoint:    hs.URL + "/v2",
		Credentials: apiclient.Credentials{Key: key, Secret: secret},
		Poll:        apiclient.PollConfig{First: time.Millisecond, Interval: time.Millisecond},
	})
	require.NoError(t, err)
	ctx := context.Background()

	do := func(op, method, path string, query url.Values, body any) map[string]any {
		t.Helper()
		var b []byte
		if body != nil {
			b, err = json.Marshal(body)
			require.NoError(t, err)
		}
		resp, err := c.Do(ctx, apiclient.Request{Operation: op, Method: method, Path: path, Query: query, Body: b, Unsigned: op == "list-zones"})
		require.NoError(t, err, op)
		var out map[string]any
		if len(resp.Body) > 0 {
			require.NoError(t, json.Unmarshal(resp.Body, &out), op)
		}
		return out
	}
	wait := func(op string, res map[string]any) *apiclient.Operation {
		t.Helper()
		b, _ := json.Marshal(res)
		var o apiclient.Operation
		require.NoError(t, json.Unmarshal(b, &o))
		require.Equal(t, "pending", o.State, "%s: writes answer with a pending operation", op)
		polls := 0
		final, err := c.Wait(ctx, &o, func(int, *apiclient.Operation) { polls++ })
		require.NoError(t, err, op)
		assert.Equal(t, "success", final.State)
		assert.GreaterOrEqual(t, polls, 2, "%s: the operation stayed pending for the configured polls", op)
		return final
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }

	zones := do("list-zones", "GET", "/zone", nil, nil)
	assert.Len(t, zones["zones"], 8)
	assert.NotEmpty(t, do("list-api-keys", "GET", "/api-key", nil, nil)["api-keys"])
	assert.Equal(t, key, str(do("get-api-key", "GET", "/api-key/"+key, nil, nil), "key"))
	assert.NotEmpty(t, do("list-iam-roles", "GET", "/iam-role", nil, nil)["iam-roles"])
	assert.Equal(t, sandbox.AdminRoleID, str(do("get-iam-role", "GET", "/iam-role/"+sandbox.AdminRoleID, nil, nil), "id"))

	final := wait("create-iam-role", do("create-iam-role", "POST", "/iam-role", nil, map[string]any{"name": "rt-role"}))
	require.NotNil(t, final.Reference)
	roleID := final.Reference.ID
	assert.Equal(t, "rt-role", str(do("get-iam-role", "GET", "/iam-role/"+roleID, nil, nil), "name"))
	wait("update-iam-role", do("update-iam-role", "PUT", "/iam-role/"+roleID, nil, map[string]any{"description": "d"}))
	wait("update-iam-role-policy", do("update-iam-role-policy", "PUT", "/iam-role/"+roleID+":policy", nil,
		map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}))

	created := do("create-api-key", "POST", "/api-key", nil, map[string]any{"name": "rt-key", "role-id": roleID})
	assert.NotEmpty(t, str(created, "secret"))
	wait("delete-api-key", do("delete-api-key", "DELETE", "/api-key/"+str(created, "key"), nil, nil))

	assert.NotEmpty(t, str(do("get-iam-organization-policy", "GET", "/iam-organization-policy", nil, nil), "default-service-strategy"))
	wait("update-iam-organization-policy", do("update-iam-organization-policy", "PUT", "/iam-organization-policy", nil,
		map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}))
	wait("reset-iam-organization-policy", do("reset-iam-organization-policy", "POST", "/iam-organization-policy:reset", nil, nil))

	assert.NotEmpty(t, do("list-deployments", "GET", "/ai/deployment", url.Values{"visibility": {"private"}}, nil)["deployments"])
	assert.Equal(t, sandbox.PublicDeploymentID, str(do("get-deployment", "GET", "/ai/deployment/"+sandbox.PublicDeploymentID, nil, nil), "id"))
	assert.NotEmpty(t, str(do("reveal-deployment-api-key", "GET", "/ai/deployment/"+sandbox.PublicDeploymentID+"/api-key", nil, nil), "api-key"))

	assert.NotEmpty(t, do("list-ai-api-keys", "GET", "/ai/api-key", nil, nil)["ai-api-keys"])
	ai := do("create-ai-api-key", "POST", "/ai/api-key", nil, map[string]any{"name": "rt ai", "scope": "public"})
	id := str(ai, "id")
	assert.Equal(t, "rt ai", str(do("get-ai-api-key", "GET", "/ai/api-key/"+id, nil, nil), "name"))
	assert.Equal(t, "renamed", str(do("update-ai-api-key", "PATCH", "/ai/api-key/"+id, nil, map[string]any{"name": "renamed"}), "name"))
	rotated := str(do("rotate-ai-api-key", "POST", "/ai/api-key/"+id+"/rotate", nil, nil), "value")
	assert.NotEqual(t, str(ai, "value"), rotated)
	assert.Equal(t, rotated, str(do("reveal-ai-api-key", "GET", "/ai/api-key/"+id+"/reveal", nil, nil), "value"))
	delAI := do("delete-ai-api-key", "DELETE", "/ai/api-key/"+id, nil, nil)
	if len(delAI) > 0 {
		wait("delete-ai-api-key", delAI)
	}
	last := wait("delete-iam-role", do("delete-iam-role", "DELETE", "/iam-role/"+roleID, nil, nil))
	assert.Equal(t, "success", str(do("get-operation", "GET", "/operation/"+last.ID, nil, nil), "state"))
}

// TestRoundTrip_PostAfterApplied500IsSentOnce: the create happened, then the answer was a
// 500. A POST is never resent, so exactly one key exists and one request reached the API.
func TestRoundTrip_PostAfterApplied500IsSentOnce(t *testing.T) {
	t.Parallel()
	sb := sandbox.New()
	hs := httptest.NewServer(sb)
	t.Cleanup(hs.Close)
	key, secret := sb.ServerCredentials()
	c, err := apiclient.New(apiclient.Config{Endpoint: hs.URL + "/v2", Credentials: apiclient.Credentials{Key: key, Secret: secret},
		RetryBase: time.Millisecond, RetryMax: time.Millisecond})
	require.NoError(t, err)
	before := len(sb.State().APIKeys)
	sb.Inject(sandbox.Fault{Method: "POST", Path: "/api-key", Status: 500, AfterApply: true})
	_, err = c.Do(context.Background(), apiclient.Request{Operation: "create-api-key", Method: "POST", Path: "/api-key",
		Body: []byte(`{"name":"once","role-id":"` + sandbox.RestrictedRoleID + `"}`)})
	var apiErr *apiclient.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 500, apiErr.Status)
	assert.Equal(t, 1, sb.Requests("POST", "/api-key"), "sent exactly once")
	assert.Len(t, sb.State().APIKeys, before+1, "the change was applied")

	// The same fault on a GET is retried, and the retry succeeds.
	sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key", Status: 503, RetryAfter: "0"})
	_, err = c.Do(context.Background(), apiclient.Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
	require.NoError(t, err)
	assert.Equal(t, 2, sb.Requests("GET", "/api-key"))
}
