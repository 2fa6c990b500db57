package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	iamKeyRE    = regexp.MustCompile(`^EXO[0-9a-f]{24}$`)
	iamSecretRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	uuidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// allRouteNames lists every operationId the router serves.
func allRouteNames() []string {
	var out []string
	for _, ms := range []methods{apiKeys, apiKey, aiKeys, aiKeyOne, aiKeyRotate, aiKeyReveal, roles, roleOne,
		rolePolicy, roleAssume, orgPolicy, orgPolicyReset, deployments, deploymentOne, deploymentKey, operationOne, zones,
		events, users, organization} {
		for _, rt := range ms {
			out = append(out, rt.name)
		}
	}
	sort.Strings(out)
	return out
}

func names(list []any, field string) []string {
	out := []string{}
	for _, e := range list {
		out = append(out, e.(map[string]any)[field].(string))
	}
	return out
}

// TestEveryOperation_RoundTrips calls each operation the sandbox serves against a fresh
// sandbox, signed with the server credential, and checks the documented response shape.
func TestEveryOperation_RoundTrips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op  string
		run func(t *testing.T, s *Sandbox, c creds)
	}{
		{"list-api-keys", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/api-key", creds: c})
			list := got["api-keys"].([]any)
			assert.ElementsMatch(t, []string{ServerKeyName, RestrictedKeyName}, names(list, "name"))
			for _, e := range list {
				k := e.(map[string]any)
				assert.Regexp(t, iamKeyRE, k["key"])
				assert.NotContains(t, k, "secret")
				assert.Contains(t, []string{AdminRoleID, RestrictedRoleID}, k["role-id"])
			}
		}},
		{"get-api-key", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/api-key/" + c.key, creds: c})
			assert.Equal(t, map[string]any{"key": c.key, "name": ServerKeyName, "role-id": AdminRoleID}, got)
		}},
		{"create-api-key", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "POST", path: "/api-key", creds: c, body: `{"name":"deploy bot","role-id":"` + RestrictedRoleID + `"}`})
			assert.Regexp(t, iamKeyRE, got["key"])
			assert.Regexp(t, iamSecretRE, got["secret"])
			assert.Equal(t, "deploy bot", got["name"])
			assert.Equal(t, RestrictedRoleID, got["role-id"])
			again := must(t, s, req{method: "GET", path: "/api-key/" + got["key"].(string), creds: c})
			assert.NotContains(t, again, "secret", "the secret is returned at creation only")
			assert.Contains(t, s.State().APIKeys, APIKey{Key: got["key"].(string), Name: "deploy bot", RoleID: RestrictedRoleID})
		}},
		{"delete-api-key", func(t *testing.T, s *Sandbox, c creds) {
			k := createKey(t, s, c, "doomed", RestrictedRoleID)
			op := must(t, s, req{method: "DELETE", path: "/api-key/" + k.key, creds: c})
			assert.Equal(t, k.key, refID(t, op))
			assert.Equal(t, "success", poll(t, s, c, op)["state"])
			assert.Equal(t, http.StatusNotFound, send(t, s, req{method: "GET", path: "/api-key/" + k.key, creds: c}).Status)
		}},
		{"list-ai-api-keys", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/ai/api-key", creds: c})
			list := got["ai-api-keys"].([]any)
			require.Len(t, list, 1)
			k := list[0].(map[string]any)
			assert.Equal(t, SeedAIKeyID, k["id"])
			assert.Equal(t, OrgID, k["org-uuid"])
			assert.Equal(t, "public", k["scope"])
			assert.NotEmpty(t, k["created-at"])
			assert.NotEmpty(t, k["updated-at"])
			assert.NotContains(t, k, "value")
		}},
		{"get-ai-api-key", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/ai/api-key/" + SeedAIKeyID, creds: c})
			assert.Equal(t, SeedAIKeyName, got["name"])
			assert.NotContains(t, got, "value")
		}},
		{"create-ai-api-key", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "POST", path: "/ai/api-key", creds: c, body: `{"name":"Team (EU) key_1","scope":"` + PrivateDeploymentID + `"}`})
			assert.Regexp(t, uuidRE, got["id"])
			assert.Equal(t, "Team (EU) key_1", got["name"])
			assert.Equal(t, PrivateDeploymentID, got["scope"])
			assert.Equal(t, OrgID, got["org-uuid"])
			assert.True(t, strings.HasPrefix(got["value"].(string), "sk-"))
			revealed := must(t, s, req{method: "GET", path: "/ai/api-key/" + got["id"].(string) + "/reveal", creds: c})
			assert.Equal(t, got["value"], revealed["value"])
		}},
		{"update-ai-api-key", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "PATCH", path: "/ai/api-key/" + SeedAIKeyID, creds: c, body: `{"name":"renamed"}`})
			assert.Equal(t, "renamed", got["name"])
			assert.Equal(t, "public", got["scope"], "scope untouched")
			got = must(t, s, req{method: "PATCH", path: "/ai/api-key/" + SeedAIKeyID, creds: c, body: `{"scope":"` + PublicDeploymentID + `"}`})
			assert.Equal(t, "renamed", got["name"])
			assert.Equal(t, PublicDeploymentID, got["scope"])
			assert.Equal(t, []AIKey{{ID: SeedAIKeyID, Name: "renamed", Scope: PublicDeploymentID}}, s.State().AIKeys)
		}},
		{"delete-ai-api-key", func(t *testing.T, s *Sandbox, c creds) {
			op := must(t, s, req{method: "DELETE", path: "/ai/api-key/" + SeedAIKeyID, creds: c})
			assert.Equal(t, SeedAIKeyID, refID(t, op))
			assert.Equal(t, "success", poll(t, s, c, op)["state"])
			assert.Equal(t, http.StatusNotFound, send(t, s, req{method: "GET", path: "/ai/api-key/" + SeedAIKeyID, creds: c}).Status)
			assert.Empty(t, s.State().AIKeys)
		}},
		{"rotate-ai-api-key", func(t *testing.T, s *Sandbox, c creds) {
			before := must(t, s, req{method: "GET", path: "/ai/api-key/" + SeedAIKeyID + "/reveal", creds: c})["value"]
			got := must(t, s, req{method: "POST", path: "/ai/api-key/" + SeedAIKeyID + "/rotate", creds: c})
			require.Equal(t, []string{"value"}, keys(got))
			assert.NotEqual(t, before, got["value"])
			after := must(t, s, req{method: "GET", path: "/ai/api-key/" + SeedAIKeyID + "/reveal", creds: c})["value"]
			assert.Equal(t, got["value"], after, "reveal shows the new value, the old one is gone")
			assert.Contains(t, s.Secrets(), before, "Secrets keeps rotated values for secret scans")
		}},
		{"reveal-ai-api-key", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/ai/api-key/" + SeedAIKeyID + "/reveal", creds: c})
			require.Equal(t, []string{"value"}, keys(got))
			assert.True(t, strings.HasPrefix(got["value"].(string), "sk-"))
			assert.Contains(t, s.Secrets(), got["value"])
		}},
		{"list-iam-roles", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/iam-role", creds: c})
			assert.Equal(t, []string{AdminRoleName, RestrictedRoleName}, names(got["iam-roles"].([]any), "name"))
		}},
		{"get-iam-role", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/iam-role/" + RestrictedRoleID, creds: c})
			assert.Equal(t, RestrictedRoleID, got["id"])
			assert.Equal(t, RestrictedRoleName, got["name"])
			assert.Equal(t, true, got["editable"])
			pol := got["policy"].(map[string]any)
			assert.Equal(t, "deny", pol["default-service-strategy"])
			assert.Equal(t, "rules", pol["services"].(map[string]any)["compute"].(map[string]any)["type"])
		}},
		{"create-iam-role", func(t *testing.T, s *Sandbox, c creds) {
			op := must(t, s, req{method: "POST", path: "/iam-role", creds: c, body: `{"name":"auditor","description":"Reads IAM",` +
				`"labels":{"team":"sec"},"max-session-ttl":3600,"permissions":["bypass-governance-retention"],` +
				`"policy":{"default-service-strategy":"deny","services":{"iam":{"type":"rules","rules":[{"action":"allow","expression":"operation == 'list-api-keys'","resources":[]}]}}},` +
				`"assume-role-policy":{"rules":[{"action":"allow","expression":"true"}]}}`})
			id := refID(t, op)
			require.Regexp(t, uuidRE, id)
			ref := op["reference"].(map[string]any)
			assert.Equal(t, "/v2/iam-role/"+id, ref["link"])
			assert.Equal(t, "get-iam-role", ref["command"])
			got := must(t, s, req{method: "GET", path: "/iam-role/" + id, creds: c})
			assert.Equal(t, "auditor", got["name"])
			assert.Equal(t, "Reads IAM", got["description"])
			assert.Equal(t, true, got["editable"], "editable defaults to true")
			assert.Equal(t, map[string]any{"team": "sec"}, got["labels"])
			assert.EqualValues(t, 3600, got["max-session-ttl"])
			assert.Equal(t, []any{"bypass-governance-retention"}, got["permissions"])
			assert.Equal(t, "deny", got["policy"].(map[string]any)["default-service-strategy"])
			assert.NotNil(t, got["assume-role-policy"])
		}},
		{"update-iam-role", func(t *testing.T, s *Sandbox, c creds) {
			op := must(t, s, req{method: "PUT", path: "/iam-role/" + RestrictedRoleID, creds: c, body: `{"description":"CI, read only","max-session-ttl":60}`})
			assert.Equal(t, RestrictedRoleID, refID(t, op))
			got := must(t, s, req{method: "GET", path: "/iam-role/" + RestrictedRoleID, creds: c})
			assert.Equal(t, "CI, read only", got["description"])
			assert.EqualValues(t, 60, got["max-session-ttl"])
			assert.Equal(t, RestrictedRoleName, got["name"], "name unchanged")
			assert.Equal(t, map[string]any{"team": "platform"}, got["labels"], "fields left out keep their value")
		}},
		{"update-iam-role-policy", func(t *testing.T, s *Sandbox, c creds) {
			op := must(t, s, req{method: "PUT", path: "/iam-role/" + RestrictedRoleID + ":policy", creds: c, body: `{"default-service-strategy":"allow","services":{"iam":{"type":"deny"}}}`})
			assert.Equal(t, RestrictedRoleID, refID(t, op))
			got := must(t, s, req{method: "GET", path: "/iam-role/" + RestrictedRoleID, creds: c})
			assert.Equal(t, map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "deny"}}}, got["policy"])
		}},
		{"delete-iam-role", func(t *testing.T, s *Sandbox, c creds) {
			id := createRole(t, s, c, "short-lived", "")
			op := must(t, s, req{method: "DELETE", path: "/iam-role/" + id, creds: c})
			assert.Equal(t, id, refID(t, op))
			assert.Equal(t, "success", poll(t, s, c, op)["state"])
			assert.Equal(t, http.StatusNotFound, send(t, s, req{method: "GET", path: "/iam-role/" + id, creds: c}).Status)
		}},
		{"get-iam-organization-policy", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/iam-organization-policy", creds: c})
			assert.Equal(t, map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}, got)
		}},
		{"update-iam-organization-policy", func(t *testing.T, s *Sandbox, c creds) {
			pol := `{"default-service-strategy":"allow","services":{"dns":{"type":"deny"}}}`
			op := must(t, s, req{method: "PUT", path: "/iam-organization-policy", creds: c, body: pol})
			assert.Equal(t, OrgID, refID(t, op))
			got := must(t, s, req{method: "GET", path: "/iam-organization-policy", creds: c})
			b, _ := json.Marshal(got)
			assert.JSONEq(t, pol, string(b))
		}},
		{"reset-iam-organization-policy", func(t *testing.T, s *Sandbox, c creds) {
			must(t, s, req{method: "PUT", path: "/iam-organization-policy", creds: c, body: `{"default-service-strategy":"deny","services":{"iam":{"type":"allow"},"compute":{"type":"allow"}}}`})
			op := must(t, s, req{method: "POST", path: "/iam-organization-policy:reset", creds: c})
			assert.Equal(t, "pending", op["state"])
			got := must(t, s, req{method: "GET", path: "/iam-organization-policy", creds: c})
			assert.Equal(t, map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}, got)
		}},
		{"list-deployments", func(t *testing.T, s *Sandbox, c creds) {
			all := must(t, s, req{method: "GET", path: "/ai/deployment", creds: c})
			assert.Equal(t, []string{PrivateDeploymentID, PublicDeploymentID}, names(all["deployments"].([]any), "id"))
			for vis, want := range map[string]string{"private": PrivateDeploymentID, "public": PublicDeploymentID} {
				got := must(t, s, req{method: "GET", path: "/ai/deployment", query: url.Values{"visibility": {vis}}, creds: c})
				assert.Equal(t, []string{want}, names(got["deployments"].([]any), "id"), vis)
			}
		}},
		{"get-deployment", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/ai/deployment/" + PrivateDeploymentID, creds: c})
			for _, f := range []string{"id", "name", "state", "deployment-url", "model", "visibility", "gpu-type", "gpu-count", "replicas", "service-level", "created-at", "updated-at"} {
				assert.Contains(t, got, f)
			}
			assert.Equal(t, "ready", got["state"])
			assert.Equal(t, "private", got["visibility"])
			assert.True(t, strings.HasPrefix(got["deployment-url"].(string), "https://"))
			assert.NotEmpty(t, got["model"].(map[string]any)["name"])
			assert.NotContains(t, got, "api-key")
		}},
		{"reveal-deployment-api-key", func(t *testing.T, s *Sandbox, c creds) {
			priv := must(t, s, req{method: "GET", path: "/ai/deployment/" + PrivateDeploymentID + "/api-key", creds: c})
			pub := must(t, s, req{method: "GET", path: "/ai/deployment/" + PublicDeploymentID + "/api-key", creds: c})
			require.NotEmpty(t, priv["api-key"])
			assert.NotEqual(t, priv["api-key"], pub["api-key"])
			assert.Contains(t, s.Secrets(), priv["api-key"])
		}},
		{"get-operation", func(t *testing.T, s *Sandbox, c creds) {
			op := must(t, s, req{method: "DELETE", path: "/ai/api-key/" + SeedAIKeyID, creds: c})
			first := must(t, s, req{method: "GET", path: "/operation/" + op["id"].(string), creds: c})
			assert.Equal(t, "pending", first["state"], "default: one pending poll")
			second := must(t, s, req{method: "GET", path: "/operation/" + op["id"].(string), creds: c})
			assert.Equal(t, "success", second["state"])
			assert.Equal(t, op["id"], second["id"])
			assert.Equal(t, op["reference"], second["reference"])
		}},
		{"list-zones", func(t *testing.T, s *Sandbox, _ creds) {
			got := must(t, s, req{method: "GET", path: "/zone"})
			assert.Equal(t, zoneNames, names(got["zones"].([]any), "name"))
		}},
		{"assume-iam-role", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "POST", path: "/iam-role/" + RestrictedRoleID + "/assume", creds: c, body: `{"ttl":600}`})
			assert.Equal(t, []string{"expires-at", "key", "name", "org-id", "role-id", "secret"}, keys(got))
			assert.Regexp(t, iamKeyRE, got["key"])
			assert.Regexp(t, iamSecretRE, got["secret"])
			assert.Equal(t, OrgID, got["org-id"])
			assert.Equal(t, RestrictedRoleID, got["role-id"])
			exp, err := time.Parse(time.RFC3339, got["expires-at"].(string))
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now().Add(600*time.Second), exp, time.Minute)
			assert.Contains(t, s.Secrets(), got["secret"])
		}},
		{"list-events", func(t *testing.T, s *Sandbox, c creds) {
			createKey(t, s, c, "evented", RestrictedRoleID)
			res := send(t, s, req{method: "GET", path: "/event", creds: c})
			require.Equal(t, http.StatusOK, res.Status, string(res.Body))
			var list []map[string]any
			require.NoError(t, json.Unmarshal(res.Body, &list), "an array: %s", res.Body)
			require.Len(t, list, 1)
			assert.Equal(t, "create-api-key", list[0]["handler"])
		}},
		{"list-users", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/user", creds: c})
			list := got["users"].([]any)
			require.Len(t, list, 3)
			u := list[0].(map[string]any)
			assert.Equal(t, []string{"email", "id", "pending", "role", "sso", "two-factor-authentication"}, keys(u))
			assert.Equal(t, map[string]any{"id": AdminRoleID, "name": AdminRoleName}, u["role"])
		}},
		{"get-organization", func(t *testing.T, s *Sandbox, c creds) {
			got := must(t, s, req{method: "GET", path: "/organization", creds: c})
			assert.Equal(t, []string{"address", "city", "country", "currency", "id", "name", "postcode"}, keys(got))
			assert.Equal(t, OrgID, got["id"])
			assert.Equal(t, OrgName, got["name"])
		}},
	}
	var covered []string
	for _, tt := range tests {
		covered = append(covered, tt.op)
		t.Run(tt.op, func(t *testing.T) {
			t.Parallel()
			s := New()
			tt.run(t, s, serverCreds(s))
		})
	}
	sort.Strings(covered)
	assert.Equal(t, allRouteNames(), covered, "every served operation has a round trip")
	assert.Len(t, covered, 29)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestServeHTTP_UnknownPathsAndIDsAre404(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	tests := []struct{ method, path string }{
		{"GET", "/nope"},
		{"GET", "/"},
		{"GET", "/api-key/"},
		{"GET", "/ai/ai-api-key"}, // the pre-rename path
		{"GET", "/iam-role/" + AdminRoleID + "/extra"},
		{"GET", "/ai/api-key/" + SeedAIKeyID + "/unknown"},
		{"GET", "/api-key/EXO000000000000000000000000"},
		{"DELETE", "/api-key/EXO000000000000000000000000"},
		{"GET", "/ai/api-key/00000000-0000-0000-0000-000000000000"},
		{"PATCH", "/ai/api-key/00000000-0000-0000-0000-000000000000"},
		{"POST", "/ai/api-key/00000000-0000-0000-0000-000000000000/rotate"},
		{"GET", "/ai/api-key/not-a-uuid/reveal"},
		{"GET", "/iam-role/00000000-0000-0000-0000-000000000000"},
		{"PUT", "/iam-role/00000000-0000-0000-0000-000000000000:policy"},
		{"DELETE", "/iam-role/00000000-0000-0000-0000-000000000000"},
		{"GET", "/ai/deployment/00000000-0000-0000-0000-000000000000"},
		{"GET", "/ai/deployment/00000000-0000-0000-0000-000000000000/api-key"},
		{"GET", "/operation/00000000-0000-0000-0000-000000000000"},
		{"POST", "/iam-role/00000000-0000-0000-0000-000000000000/assume"},
		{"GET", "/event/x"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			body := ""
			if tt.method == "PATCH" {
				body = `{"name":"x"}`
			}
			if strings.HasSuffix(tt.path, "/assume") {
				body = `{"ttl":60}`
			}
			if strings.HasSuffix(tt.path, ":policy") {
				body = `{"default-service-strategy":"allow","services":{}}`
			}
			res := send(t, s, req{method: tt.method, path: tt.path, creds: c, body: body})
			require.Equal(t, http.StatusNotFound, res.Status, string(res.Body))
			assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			p := res.JSON(t)
			assert.Equal(t, "Not Found", p["title"])
			assert.EqualValues(t, 404, p["status"])
			assert.NotEmpty(t, p["type"])
			assert.NotEmpty(t, p["detail"])
		})
	}
	t.Run("outside /v2", func(t *testing.T) {
		rec := send(t, s, req{method: "GET", path: "/../zone"})
		assert.Equal(t, http.StatusNotFound, rec.Status)
	})
}

func TestServeHTTP_WrongMethodIs405WithAllow(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	tests := []struct{ method, path, allow string }{
		{"PUT", "/api-key", "GET, POST"},
		{"PATCH", "/api-key/" + c.key, "DELETE, GET"},
		{"DELETE", "/ai/api-key", "GET, POST"},
		{"PUT", "/ai/api-key/" + SeedAIKeyID, "DELETE, GET, PATCH"},
		{"GET", "/ai/api-key/" + SeedAIKeyID + "/rotate", "POST"},
		{"POST", "/ai/api-key/" + SeedAIKeyID + "/reveal", "GET"},
		{"PATCH", "/iam-role/" + AdminRoleID, "DELETE, GET, PUT"},
		{"GET", "/iam-role/" + AdminRoleID + ":policy", "PUT"},
		{"DELETE", "/iam-organization-policy", "GET, PUT"},
		{"GET", "/iam-organization-policy:reset", "POST"},
		{"POST", "/ai/deployment", "GET"},
		{"DELETE", "/ai/deployment/" + PrivateDeploymentID, "GET"},
		{"POST", "/ai/deployment/" + PrivateDeploymentID + "/api-key", "GET"},
		{"DELETE", "/operation/00000000-0000-0000-0000-000000000000", "GET"},
		{"POST", "/zone", "GET"},
		{"GET", "/iam-role/" + AdminRoleID + "/assume", "POST"},
		{"POST", "/event", "GET"},
		{"DELETE", "/user", "GET"},
		{"PUT", "/organization", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			res := send(t, s, req{method: tt.method, path: tt.path, creds: c})
			require.Equal(t, http.StatusMethodNotAllowed, res.Status, string(res.Body))
			assert.Equal(t, tt.allow, res.Header.Get("Allow"))
			assert.Equal(t, "Method Not Allowed", res.JSON(t)["title"])
		})
	}
}

func TestServeHTTP_InvalidBodiesGet400WithFieldErrors(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	long := func(n int) string { return strings.Repeat("a", n) }
	const unknownUUID = "00000000-0000-4000-8000-000000000000"
	pol := func(services string) string { return `{"default-service-strategy":"deny","services":` + services + `}` }
	tests := []struct {
		name, method, path, body string
		wantPaths                []string
		wantDetail               string // substring of one field error's detail
	}{
		{"create-api-key empty object", "POST", "/api-key", `{}`, []string{"name", "role-id"}, "is required"},
		{"create-api-key empty body", "POST", "/api-key", ``, []string{""}, "request body is required"},
		{"create-api-key malformed JSON", "POST", "/api-key", `{"name":`, []string{""}, "not valid JSON"},
		{"create-api-key trailing data", "POST", "/api-key", `{"name":"a","role-id":"` + AdminRoleID + `"} {}`, []string{""}, "not valid JSON"},
		{"create-api-key array body", "POST", "/api-key", `[]`, []string{""}, "expected a JSON object"},
		{"create-api-key empty name", "POST", "/api-key", `{"name":"","role-id":"` + AdminRoleID + `"}`, []string{"name"}, "1 to 255 characters, got 0"},
		{"create-api-key name too long", "POST", "/api-key", `{"name":"` + long(256) + `","role-id":"` + AdminRoleID + `"}`, []string{"name"}, "got 256"},
		{"create-api-key name not a string", "POST", "/api-key", `{"name":5,"role-id":"` + AdminRoleID + `"}`, []string{"name"}, "expected string, got number"},
		{"create-api-key role-id not a uuid", "POST", "/api-key", `{"name":"a","role-id":"admin"}`, []string{"role-id"}, "expected a uuid"},
		{"create-api-key unknown role", "POST", "/api-key", `{"name":"a","role-id":"` + unknownUUID + `"}`, []string{"role-id"}, "no IAM role with this id"},
		{"create-api-key unknown field", "POST", "/api-key", `{"name":"a","role-id":"` + AdminRoleID + `","secret":"x"}`, []string{"secret"}, "unknown field; allowed: name, role-id"},
		{"create-ai-api-key name too long", "POST", "/ai/api-key", `{"name":"` + long(51) + `","scope":"public"}`, []string{"name"}, "1 to 50 characters"},
		{"create-ai-api-key name pattern", "POST", "/ai/api-key", `{"name":"-bad-","scope":"public"}`, []string{"name"}, "does not match pattern"},
		{"create-ai-api-key scope missing", "POST", "/ai/api-key", `{"name":"ok"}`, []string{"scope"}, "is required"},
		{"create-ai-api-key scope word", "POST", "/ai/api-key", `{"name":"ok","scope":"private"}`, []string{"scope"}, `"public"`},
		{"create-ai-api-key scope unknown deployment", "POST", "/ai/api-key", `{"name":"ok","scope":"` + unknownUUID + `"}`, []string{"scope"}, "no AI deployment"},
		{"update-ai-api-key nothing to change", "PATCH", "/ai/api-key/" + SeedAIKeyID, `{}`, []string{""}, "at least one of name, scope"},
		{"update-ai-api-key unknown field", "PATCH", "/ai/api-key/" + SeedAIKeyID, `{"name":"ok","value":"sk-x"}`, []string{"value"}, "unknown field"},
		{"create-iam-role name too long", "POST", "/iam-role", `{"name":"` + long(192) + `"}`, []string{"name"}, "1 to 191 characters"},
		{"create-iam-role name missing", "POST", "/iam-role", `{"description":"x"}`, []string{"name"}, "is required"},
		{"create-iam-role empty description", "POST", "/iam-role", `{"name":"r","description":""}`, []string{"description"}, "1 to 255"},
		{"create-iam-role ttl zero", "POST", "/iam-role", `{"name":"r","max-session-ttl":0}`, []string{"max-session-ttl"}, "greater than 0"},
		{"create-iam-role ttl fraction", "POST", "/iam-role", `{"name":"r","max-session-ttl":1.5}`, []string{"max-session-ttl"}, "integer"},
		{"create-iam-role ttl string", "POST", "/iam-role", `{"name":"r","max-session-ttl":"60"}`, []string{"max-session-ttl"}, "expected integer, got string"},
		{"create-iam-role unknown permission", "POST", "/iam-role", `{"name":"r","permissions":["root"]}`, []string{"permissions[0]"}, "expected one of"},
		{"create-iam-role duplicate permission", "POST", "/iam-role", `{"name":"r","permissions":["reset-iam-organization-policy","reset-iam-organization-policy"]}`, []string{"permissions[1]"}, "unique"},
		{"create-iam-role labels not strings", "POST", "/iam-role", `{"name":"r","labels":{"a":1}}`, []string{"labels.a"}, "expected string"},
		{"create-iam-role editable not boolean", "POST", "/iam-role", `{"name":"r","editable":"yes"}`, []string{"editable"}, "expected boolean"},
		{"create-iam-role policy without services", "POST", "/iam-role", `{"name":"r","policy":{"default-service-strategy":"allow"}}`, []string{"policy.services"}, "is required"},
		{"create-iam-role policy bad strategy", "POST", "/iam-role", `{"name":"r","policy":` + `{"default-service-strategy":"maybe","services":{}}` + `}`, []string{"policy.default-service-strategy"}, "allow, deny"},
		{"create-iam-role policy bad service type", "POST", "/iam-role", `{"name":"r","policy":` + pol(`{"compute":{"type":"sometimes"}}`) + `}`, []string{"policy.services.compute.type"}, "allow, deny, rules"},
		{"create-iam-role policy bad rule", "POST", "/iam-role", `{"name":"r","policy":` + pol(`{"compute":{"type":"rules","rules":[{"action":"perhaps","when":1}]}}`) + `}`,
			[]string{"policy.services.compute.rules[0].action", "policy.services.compute.rules[0].expression", "policy.services.compute.rules[0].when"}, "allow, deny"},
		{"create-iam-role unknown field", "POST", "/iam-role", `{"name":"r","owner":"me"}`, []string{"owner"}, "unknown field"},
		{"update-iam-role name", "PUT", "/iam-role/" + RestrictedRoleID, `{"name":"renamed"}`, []string{"name"}, "fixed at creation"},
		{"update-iam-role policy", "PUT", "/iam-role/" + RestrictedRoleID, `{"policy":` + pol(`{}`) + `}`, []string{"policy"}, "update-iam-role-policy"},
		{"update-iam-role-policy missing services", "PUT", "/iam-role/" + RestrictedRoleID + ":policy", `{"default-service-strategy":"allow"}`, []string{"services"}, "is required"},
		{"update-iam-organization-policy services not object", "PUT", "/iam-organization-policy", `{"default-service-strategy":"allow","services":[]}`, []string{"services"}, "expected object"},
		{"assume-iam-role ttl missing", "POST", "/iam-role/" + RestrictedRoleID + "/assume", `{}`, []string{"ttl"}, "is required"},
		{"assume-iam-role ttl zero", "POST", "/iam-role/" + RestrictedRoleID + "/assume", `{"ttl":0}`, []string{"ttl"}, "greater than 0"},
		{"assume-iam-role ttl string", "POST", "/iam-role/" + RestrictedRoleID + "/assume", `{"ttl":"60"}`, []string{"ttl"}, "expected integer, got string"},
		{"assume-iam-role unknown field", "POST", "/iam-role/" + RestrictedRoleID + "/assume", `{"ttl":60,"secret":"x"}`, []string{"secret"}, "unknown field; allowed: ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := send(t, s, req{method: tt.method, path: tt.path, body: tt.body, creds: c})
			require.Equal(t, http.StatusBadRequest, res.Status, string(res.Body))
			var p struct {
				Type, Title, Detail string
				Status              int
				Errors              []fieldError
			}
			require.NoError(t, json.Unmarshal(res.Body, &p))
			assert.Equal(t, "Invalid Request Body", p.Title)
			assert.Equal(t, 400, p.Status)
			assert.NotEmpty(t, p.Type)
			assert.NotEmpty(t, p.Detail)
			assert.ElementsMatch(t, tt.wantPaths, fieldPaths(t, res))
			var details []string
			for _, e := range p.Errors {
				details = append(details, e.Detail)
				assert.Equal(t, "body", e.Location)
				if e.Path != "" {
					assert.True(t, strings.HasPrefix(e.Pointer, "/"), "pointer %q", e.Pointer)
				}
			}
			assert.Contains(t, strings.Join(details, "\n"), tt.wantDetail)
		})
	}
	// Nothing invalid was created.
	st := s.State()
	assert.Len(t, st.APIKeys, 2)
	assert.Len(t, st.AIKeys, 1)
	assert.Len(t, st.Roles, 2)

	t.Run("list-deployments unknown visibility", func(t *testing.T) {
		res := send(t, s, req{method: "GET", path: "/ai/deployment", query: url.Values{"visibility": {"all"}}, creds: c})
		require.Equal(t, http.StatusBadRequest, res.Status)
		var p struct{ Errors []fieldError }
		require.NoError(t, json.Unmarshal(res.Body, &p))
		require.Len(t, p.Errors, 1)
		assert.Equal(t, fieldError{Path: "visibility", Detail: "expected one of: private, public", Location: "query"}, p.Errors[0])
	})
}

// Field names are echoed in error paths (that is what makes them useful); values never are, so a
// secret pasted into the wrong field does not come back in an error a model or a log then keeps.
func TestServeHTTP_ValidationErrorsNeverEchoValues(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	secret := "very-secret-value-0123456789"
	for _, body := range []string{
		`{"name":"` + secret + `","role-id":"` + secret + `"}`,
		`{"name":"a","role-id":"` + AdminRoleID + `","x":"` + secret + `"}`,
		`{"name":"` + secret,
	} {
		res := send(t, s, req{method: "POST", path: "/api-key", body: body, creds: c})
		require.Equal(t, http.StatusBadRequest, res.Status)
		assert.NotContains(t, string(res.Body), secret)
	}
}

func TestOperations_StayPendingForTheConfiguredPolls(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("polls=%d", n), func(t *testing.T) {
			t.Parallel()
			s := New(WithPendingPolls(n))
			c := serverCreds(s)
			op := must(t, s, req{method: "POST", path: "/iam-role", creds: c, body: `{"name":"r"}`})
			assert.Equal(t, "pending", op["state"], "the write's own answer is always pending")
			for i := range n {
				got := must(t, s, req{method: "GET", path: "/operation/" + op["id"].(string), creds: c})
				assert.Equal(t, "pending", got["state"], "poll %d", i+1)
			}
			got := must(t, s, req{method: "GET", path: "/operation/" + op["id"].(string), creds: c})
			assert.Equal(t, "success", got["state"])
			assert.NotContains(t, got, "reason")
			again := must(t, s, req{method: "GET", path: "/operation/" + op["id"].(string), creds: c})
			assert.Equal(t, "success", again["state"], "success is final")
		})
	}
}

func TestEveryWrite_ReturnsAPendingOperationAndApplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, s *Sandbox, c creds) req
		check func(t *testing.T, s *Sandbox, c creds)
	}{
		{"delete-api-key", func(t *testing.T, s *Sandbox, c creds) req {
			k := createKey(t, s, c, "x", AdminRoleID)
			return req{method: "DELETE", path: "/api-key/" + k.key}
		}, func(t *testing.T, s *Sandbox, c creds) { assert.Len(t, s.State().APIKeys, 2) }},
		{"create-iam-role", func(*testing.T, *Sandbox, creds) req {
			return req{method: "POST", path: "/iam-role", body: `{"name":"new"}`}
		}, func(t *testing.T, s *Sandbox, c creds) { assert.Len(t, s.State().Roles, 3) }},
		{"update-iam-role", func(*testing.T, *Sandbox, creds) req {
			return req{method: "PUT", path: "/iam-role/" + AdminRoleID, body: `{"description":"changed"}`}
		}, func(t *testing.T, s *Sandbox, c creds) {
			assert.Equal(t, "changed", must(t, s, req{method: "GET", path: "/iam-role/" + AdminRoleID, creds: c})["description"])
		}},
		{"update-iam-role-policy", func(*testing.T, *Sandbox, creds) req {
			return req{method: "PUT", path: "/iam-role/" + RestrictedRoleID + ":policy", body: `{"default-service-strategy":"allow","services":{}}`}
		}, func(t *testing.T, s *Sandbox, c creds) {
			k, sec, _ := s.KeyCredentials(RestrictedKeyName)
			assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key", creds: creds{k, sec}}).Status, "new policy enforced at once")
		}},
		{"delete-iam-role", func(t *testing.T, s *Sandbox, c creds) req {
			return req{method: "DELETE", path: "/iam-role/" + createRole(t, s, c, "tmp", "")}
		}, func(t *testing.T, s *Sandbox, c creds) { assert.Len(t, s.State().Roles, 2) }},
		{"update-iam-organization-policy", func(*testing.T, *Sandbox, creds) req {
			return req{method: "PUT", path: "/iam-organization-policy", body: `{"default-service-strategy":"allow","services":{"ai":{"type":"deny"}}}`}
		}, func(t *testing.T, s *Sandbox, c creds) {
			assert.Equal(t, http.StatusForbidden, send(t, s, req{method: "GET", path: "/ai/api-key", creds: c}).Status)
		}},
		{"reset-iam-organization-policy", func(*testing.T, *Sandbox, creds) req {
			return req{method: "POST", path: "/iam-organization-policy:reset"}
		}, func(*testing.T, *Sandbox, creds) {}},
		{"delete-ai-api-key", func(*testing.T, *Sandbox, creds) req {
			return req{method: "DELETE", path: "/ai/api-key/" + SeedAIKeyID}
		}, func(t *testing.T, s *Sandbox, c creds) { assert.Empty(t, s.State().AIKeys) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(WithPendingPolls(5))
			c := serverCreds(s)
			r := tt.setup(t, s, c)
			r.creds = c
			op := must(t, s, r)
			assert.Regexp(t, uuidRE, op["id"])
			assert.Equal(t, "pending", op["state"])
			ref := op["reference"].(map[string]any)
			assert.NotEmpty(t, ref["id"])
			assert.True(t, strings.HasPrefix(ref["link"].(string), "/v2/"))
			assert.NotEmpty(t, ref["command"])
			tt.check(t, s, c) // applied although the operation is still pending
		})
	}
}

func TestCreatedKey_SignsUntilDeleted(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	k := createKey(t, s, admin, "temp admin", AdminRoleID)
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key", creds: k}).Status)

	op := must(t, s, req{method: "DELETE", path: "/api-key/" + k.key, creds: admin})
	require.Equal(t, "pending", op["state"])
	res := send(t, s, req{method: "GET", path: "/api-key", creds: k})
	assert.Equal(t, http.StatusForbidden, res.Status)
	assert.JSONEq(t, `{"message":"Invalid request signature"}`, string(res.Body))
}

func TestDeleteIAMRole_StillUsedByKeysIsConflict(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	res := send(t, s, req{method: "DELETE", path: "/iam-role/" + RestrictedRoleID, creds: c})
	require.Equal(t, http.StatusConflict, res.Status, string(res.Body))
	p := res.JSON(t)
	assert.Equal(t, "Conflict", p["title"])
	assert.Contains(t, p["detail"], "still assigned to 1 API key")
	assert.Len(t, s.State().Roles, 2, "role kept")

	ci, _, _ := s.KeyCredentials(RestrictedKeyName)
	must(t, s, req{method: "DELETE", path: "/api-key/" + ci, creds: c})
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "DELETE", path: "/iam-role/" + RestrictedRoleID, creds: c}).Status)
}

func TestUpdateIAMRolePolicy_NonEditableRoleIsRefused(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	op := must(t, s, req{method: "POST", path: "/iam-role", creds: c, body: `{"name":"frozen","editable":false}`})
	id := refID(t, op)
	assert.Equal(t, false, must(t, s, req{method: "GET", path: "/iam-role/" + id, creds: c})["editable"])
	res := send(t, s, req{method: "PUT", path: "/iam-role/" + id + ":policy", creds: c, body: `{"default-service-strategy":"deny","services":{}}`})
	assert.Equal(t, http.StatusForbidden, res.Status)
	assert.Contains(t, res.JSON(t)["detail"], "editable: false")
}

func TestCreateIAMRole_DuplicateNamesAllowed(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	a := createRole(t, s, c, AdminRoleName, "")
	assert.NotEqual(t, AdminRoleID, a)
	assert.Len(t, s.State().Roles, 3)
}
