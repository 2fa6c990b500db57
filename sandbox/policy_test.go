package sandbox

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPolicyAllows_FirstMatchingRuleDecides(t *testing.T) {
	t.Parallel()
	var ck checker
	m, bad := decodeObject([]byte(`{"default-service-strategy":"deny","services":{
		"iam":{"type":"rules","rules":[
			{"action":"deny","expression":"operation == 'delete-api-key'"},
			{"action":"allow","expression":"operation in ['list-api-keys','delete-api-key']"},
			{"action":"allow","expression":"service == 'iam'"}]},
		"ai":{"type":"allow"},
		"compute":{"type":"deny"},
		"dns":{"type":"rules"}}}`))
	require.Nil(t, bad)
	p := ck.policy(root, m)
	require.True(t, ck.ok(), "%v", ck.errs)
	p.compile()
	tests := []struct {
		service, op string
		want        bool
	}{
		{"iam", "list-api-keys", true},
		{"iam", "delete-api-key", false}, // the deny rule comes first
		{"iam", "create-api-key", false}, // no rule matches (unsupported CEL never matches)
		{"ai", "create-ai-api-key", true},
		{"compute", "get-operation", false},
		{"dns", "list-dns-domains", false}, // rules without rules: nothing matches
		{"sos", "list-buckets", false},     // unlisted: default strategy deny
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, p.allows(tt.service, tt.op), "%s %s", tt.service, tt.op)
	}
	assert.True(t, allowAllPolicy().allows("anything", "at-all"))
}

func TestRestrictedKey_AllowedOperationPassesOthersGet403(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	ciKey, ciSecret, ok := s.KeyCredentials(RestrictedKeyName)
	require.True(t, ok)
	ci := creds{ciKey, ciSecret}
	op := must(t, s, req{method: "DELETE", path: "/ai/api-key/" + SeedAIKeyID, creds: admin})

	tests := []struct {
		name        string
		r           req
		wantStatus  int
		wantMessage string
	}{
		{"get-operation is allowed by the compute rule", req{method: "GET", path: "/operation/" + op["id"].(string)}, http.StatusOK, ""},
		{"get-operation on an unknown id passes the policy", req{method: "GET", path: "/operation/00000000-0000-0000-0000-000000000000"}, http.StatusNotFound, ""},
		{"list-api-keys", req{method: "GET", path: "/api-key"}, http.StatusForbidden, "Forbidden by role policy for iam"},
		{"create-api-key", req{method: "POST", path: "/api-key", body: `{"name":"escalate","role-id":"` + AdminRoleID + `"}`}, http.StatusForbidden, "Forbidden by role policy for iam"},
		{"delete-iam-role", req{method: "DELETE", path: "/iam-role/" + AdminRoleID}, http.StatusForbidden, "Forbidden by role policy for iam"},
		{"update-iam-role-policy", req{method: "PUT", path: "/iam-role/" + RestrictedRoleID + ":policy", body: `{"default-service-strategy":"allow","services":{}}`}, http.StatusForbidden, "Forbidden by role policy for iam"},
		{"reset-iam-organization-policy", req{method: "POST", path: "/iam-organization-policy:reset"}, http.StatusForbidden, "Forbidden by role policy for iam"},
		{"list-ai-api-keys", req{method: "GET", path: "/ai/api-key"}, http.StatusForbidden, "Forbidden by role policy for ai"},
		{"reveal-deployment-api-key", req{method: "GET", path: "/ai/deployment/" + PrivateDeploymentID + "/api-key"}, http.StatusForbidden, "Forbidden by role policy for ai"},
		{"list-zones (unsigned, never enforced)", req{method: "GET", path: "/zone"}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.path != "/zone" {
				tt.r.creds = ci
			}
			res := send(t, s, tt.r)
			require.Equal(t, tt.wantStatus, res.Status, string(res.Body))
			if tt.wantMessage != "" {
				assert.JSONEq(t, `{"message":"`+tt.wantMessage+`"}`, string(res.Body))
			}
		})
	}
	st := s.State()
	assert.Len(t, st.APIKeys, 2, "forbidden create did not happen")
	assert.Len(t, st.Roles, 2, "forbidden delete did not happen")
}

func TestRolePolicy_CustomRulesEnforcedPerService(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	roleID := createRole(t, s, admin, "key-reader", `{"default-service-strategy":"allow","services":{
		"iam":{"type":"rules","rules":[
			{"action":"deny","expression":"operation == 'delete-api-key'"},
			{"action":"allow","expression":"operation in ['list-api-keys', 'get-api-key', 'delete-api-key']"}]},
		"compute":{"type":"deny"}}}`)
	k := createKey(t, s, admin, "reader", roleID)
	tests := []struct {
		method, path string
		want         int
		message      string
	}{
		{"GET", "/api-key", http.StatusOK, ""},
		{"GET", "/api-key/" + k.key, http.StatusOK, ""},
		{"DELETE", "/api-key/" + k.key, http.StatusForbidden, "Forbidden by role policy for iam"},
		{"GET", "/iam-role", http.StatusForbidden, "Forbidden by role policy for iam"},
		{"GET", "/operation/00000000-0000-0000-0000-000000000000", http.StatusForbidden, "Forbidden by role policy for compute"},
		{"GET", "/ai/deployment", http.StatusOK, ""}, // ai unlisted: default allow
	}
	for _, tt := range tests {
		res := send(t, s, req{method: tt.method, path: tt.path, creds: k})
		require.Equal(t, tt.want, res.Status, "%s %s: %s", tt.method, tt.path, res.Body)
		if tt.message != "" {
			assert.JSONEq(t, `{"message":"`+tt.message+`"}`, string(res.Body))
		}
	}
}

func TestRoleWithoutPolicy_AllowsEverything(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	k := createKey(t, s, admin, "open", createRole(t, s, admin, "open", ""))
	for _, path := range []string{"/api-key", "/iam-role", "/ai/api-key", "/ai/deployment", "/iam-organization-policy"} {
		assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: path, creds: k}).Status, path)
	}
}

func TestOrganizationPolicy_BindsEveryKeyAndResetPermissionIsTheWayOut(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	// A second all-powerful role, but without the reset-iam-organization-policy permission.
	other := createKey(t, s, admin, "other", createRole(t, s, admin, "no-reset", ""))

	must(t, s, req{method: "PUT", path: "/iam-organization-policy", creds: admin,
		body: `{"default-service-strategy":"deny","services":{"compute":{"type":"allow"}}}`})

	for _, c := range []creds{admin, other} {
		res := send(t, s, req{method: "GET", path: "/api-key", creds: c})
		require.Equal(t, http.StatusForbidden, res.Status)
		assert.JSONEq(t, `{"message":"Forbidden by organization policy for iam"}`, string(res.Body))
	}
	res := send(t, s, req{method: "GET", path: "/ai/api-key", creds: admin})
	assert.JSONEq(t, `{"message":"Forbidden by organization policy for ai"}`, string(res.Body))
	assert.Equal(t, http.StatusNotFound, send(t, s, req{method: "GET", path: "/operation/00000000-0000-0000-0000-000000000000", creds: admin}).Status,
		"compute still allowed by the organization policy")

	res = send(t, s, req{method: "POST", path: "/iam-organization-policy:reset", creds: other})
	assert.Equal(t, http.StatusForbidden, res.Status, "no permission, no way out")

	op := must(t, s, req{method: "POST", path: "/iam-organization-policy:reset", creds: admin})
	assert.Equal(t, "pending", op["state"])
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key", creds: other}).Status)
}
