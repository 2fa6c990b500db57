package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mustPolicy parses and compiles a policy document, failing the test on a validation error.
func mustPolicy(t *testing.T, doc string) *policy {
	t.Helper()
	m, bad := decodeObject([]byte(doc))
	require.Nil(t, bad)
	var ck checker
	p := ck.policy(root, m)
	require.True(t, ck.ok(), "%v", ck.errs)
	p.compile()
	return p
}

// rules is a policy whose service svc has these rules, in order, and whose default strategy
// is allow (so a rules service that denies shows it was the rules, not the default).
func rulesPolicy(t *testing.T, svc string, rules ...[2]string) *policy {
	t.Helper()
	sp := servicePolicy{Type: "rules", Rules: []policyRule{}}
	for _, r := range rules {
		sp.Rules = append(sp.Rules, policyRule{Action: r[0], Expression: r[1]})
	}
	b, err := json.Marshal(policy{DefaultServiceStrategy: "allow", Services: map[string]servicePolicy{svc: sp}})
	require.NoError(t, err)
	return mustPolicy(t, string(b))
}

func TestPolicyAllows_CELSemantics(t *testing.T) {
	t.Parallel()
	base := func() *policyRequest {
		return &policyRequest{
			operation: "create-api-key", service: "iam", zone: "ch-gva-2",
			now:      time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
			sourceIP: "203.0.113.7", apiKey: "EXO0123456789abcdef01234567",
			parameters: map[string]any{"name": "ci-deploy", "role-id": RestrictedRoleID, "ttl": int64(600)},
			resources:  map[string]any{"iam_role": map[string]any{"id": RestrictedRoleID, "name": "compute-read-only"}},
		}
	}
	allow, deny := "allow", "deny"
	tests := []struct {
		name  string
		rules [][2]string
		edit  func(r *policyRequest)
		want  bool
	}{
		{"first true rule decides: deny before allow", [][2]string{{deny, "operation == 'create-api-key'"}, {allow, "true"}}, nil, false},
		{"first true rule decides: allow before deny", [][2]string{{allow, "operation == 'create-api-key'"}, {deny, "true"}}, nil, true},
		{"a false rule goes on", [][2]string{{deny, "operation == 'delete-api-key'"}, {allow, "true"}}, nil, true},
		{"no rule decides: denied despite default allow", [][2]string{{allow, "operation == 'list-api-keys'"}}, nil, false},
		{"operation in a list", [][2]string{{allow, "operation in ['list-api-keys', 'create-api-key']"}}, nil, true},
		{"operation outside the list", [][2]string{{allow, "operation in ['list-api-keys']"}}, nil, false},
		{"service binding", [][2]string{{allow, "service == 'iam'"}}, nil, true},
		{"CEL string functions", [][2]string{{allow, "operation.startsWith('create-') && !operation.endsWith('-role')"}}, nil, true},
		{"runtime error (missing parameter) goes on", [][2]string{{deny, "parameters.scope == 'public'"}, {allow, "true"}}, nil, true},
		{"runtime error alone never allows", [][2]string{{allow, "parameters.scope == 'public'"}}, nil, false},
		{"syntax error goes on", [][2]string{{deny, "operation in ['create-api-key'"}, {allow, "true"}}, nil, true},
		{"undeclared binding goes on", [][2]string{{deny, "region == 'ch-gva-2'"}, {allow, "true"}}, nil, true},
		{"undeclared function goes on", [][2]string{{deny, "operation.isDangerous()"}, {allow, "true"}}, nil, true},
		{"non-boolean result never decides", [][2]string{{deny, "'yes'"}, {deny, "parameters.name"}, {allow, "true"}}, nil, true},
		{"zone condition holds", [][2]string{{allow, "zone == 'ch-gva-2'"}}, nil, true},
		{"zone condition fails in another zone", [][2]string{{allow, "zone == 'ch-gva-2'"}}, func(r *policyRequest) { r.zone = "de-fra-1" }, false},
		{"zone in a list", [][2]string{{allow, "zone in ['de-fra-1', 'de-muc-1']"}}, func(r *policyRequest) { r.zone = "de-muc-1" }, true},
		{"source_ip in range", [][2]string{{allow, "source_ip.inIpRange('203.0.113.0/24')"}}, nil, true},
		{"source_ip out of range", [][2]string{{allow, "source_ip.inIpRange('198.51.100.0/24')"}}, nil, false},
		{"source_ip IPv6 range", [][2]string{{allow, "source_ip.inIpRange('2001:db8::/32')"}}, func(r *policyRequest) { r.sourceIP = "2001:db8::1" }, true},
		{"bad CIDR is an error that goes on", [][2]string{{deny, "source_ip.inIpRange('not-a-cidr')"}, {allow, "true"}}, nil, true},
		{"a bare address is a range of one, as policy reads it", [][2]string{{allow, "source_ip.inIpRange('203.0.113.7')"}}, nil, true},
		{"deny outside an office range", [][2]string{{deny, "!source_ip.inIpRange('10.0.0.0/8')"}, {allow, "true"}}, nil, false},
		{"now before a date", [][2]string{{allow, "timestamp(now) < timestamp('2027-01-01T00:00:00Z')"}}, nil, true},
		{"now after a date", [][2]string{{allow, "timestamp(now) > timestamp('2027-01-01T00:00:00Z')"}}, nil, false},
		{"api_key binding", [][2]string{{allow, "api_key == 'EXO0123456789abcdef01234567'"}}, nil, true},
		{"parameters select", [][2]string{{allow, "parameters.name.startsWith('ci-')"}}, nil, true},
		{"parameters index with a hyphen", [][2]string{{allow, "parameters['role-id'] == '" + RestrictedRoleID + "'"}}, nil, true},
		{"parameters number", [][2]string{{allow, "parameters.ttl <= 3600"}}, nil, true},
		{"parameters.has", [][2]string{{deny, "parameters.has('scope')"}, {allow, "parameters.has('name')"}}, nil, true},
		{"has() macro", [][2]string{{allow, "has(parameters.name) && !has(parameters.scope)"}}, nil, true},
		{"resources", [][2]string{{allow, "resources.iam_role.name == 'compute-read-only'"}}, nil, true},
		{"resource (singular spelling)", [][2]string{{deny, "resource.iam_role.name == 'compute-read-only'"}, {allow, "true"}}, nil, false},
		{"resources of another kind: error goes on", [][2]string{{deny, "resources.dbaas_service.name == 'x'"}, {allow, "true"}}, nil, true},
		{"rule for another service is not consulted", [][2]string{{allow, "true"}}, func(r *policyRequest) { r.service = "compute" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			if tt.edit != nil {
				tt.edit(r)
			}
			assert.Equal(t, tt.want, rulesPolicy(t, "iam", tt.rules...).allows(r))
		})
	}
}

func TestPolicyAllows_ServiceEntryOrDefaultStrategy(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, `{"default-service-strategy":"deny","services":{
		"iam":{"type":"rules","rules":[{"action":"allow","expression":"operation == 'list-api-keys'"}]},
		"ai":{"type":"allow"},
		"compute":{"type":"deny"},
		"dns":{"type":"rules"}}}`)
	open := mustPolicy(t, `{"default-service-strategy":"allow","services":{"compute":{"type":"deny"}}}`)
	tests := []struct {
		p           *policy
		service, op string
		want        bool
	}{
		{p, "iam", "list-api-keys", true},
		{p, "iam", "delete-api-key", false},
		{p, "ai", "create-ai-api-key", true},
		{p, "compute", "get-operation", false},
		{p, "dns", "list-dns-domains", false}, // rules without rules: nothing decides
		{p, "sos", "list-buckets", false},     // no entry: default deny
		{open, "sos", "list-buckets", true},   // no entry: default allow
		{open, "compute", "list-zones", false},
		{allowAllPolicy(), "anything", "at-all", true},
		{nil, "iam", "list-api-keys", false}, // a key whose role is gone
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.p.allows(&policyRequest{service: tt.service, operation: tt.op}), "%s %s", tt.service, tt.op)
	}
}

func TestProgram_CachedPerExpression(t *testing.T) {
	t.Parallel()
	a := program("operation == 'cache-probe'")
	require.NotNil(t, a)
	assert.Same(t, a, program("operation == 'cache-probe'"))
	assert.Nil(t, program("operation =="), "a syntax error compiles to nothing")
	assert.Nil(t, program("operation"), "a string result is not a rule")
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

// celRoleKey creates a role with policyJSON and a key on it, returning the key's credentials.
func celRoleKey(t *testing.T, s *Sandbox, name, policyJSON string) creds {
	t.Helper()
	admin := serverCreds(s)
	return createKey(t, s, admin, name, createRole(t, s, admin, name, policyJSON))
}

func assertForbidden(t *testing.T, res result, message string) {
	t.Helper()
	require.Equal(t, http.StatusForbidden, res.Status, string(res.Body))
	assert.JSONEq(t, `{"message":"`+message+`"}`, string(res.Body))
}

func TestCELRole_KeyIsReallyRestricted(t *testing.T) {
	t.Parallel()
	s := New()
	k := celRoleKey(t, s, "lister", `{"default-service-strategy":"deny","services":{
		"iam":{"type":"rules","rules":[{"action":"allow","expression":"operation.startsWith('list-') || operation == 'get-api-key'"}]}}}`)
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key", creds: k}).Status)
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key/" + k.key, creds: k}).Status)
	assertForbidden(t, send(t, s, req{method: "POST", path: "/api-key", creds: k, body: `{"name":"x","role-id":"` + AdminRoleID + `"}`}),
		"Forbidden by role policy for iam")
	assertForbidden(t, send(t, s, req{method: "GET", path: "/ai/api-key", creds: k}), "Forbidden by role policy for ai")
	assert.Len(t, s.State().APIKeys, 3, "the forbidden create did not happen")
}

func TestCELRole_ZoneCondition(t *testing.T) {
	t.Parallel()
	policyJSON := `{"default-service-strategy":"deny","services":{
		"iam":{"type":"rules","rules":[{"action":"allow","expression":"operation == 'list-api-keys' && zone == 'de-fra-1'"}]}}}`
	s := New()
	k := celRoleKey(t, s, "fra-only", policyJSON)
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key", creds: k, host: "api-de-fra-1.exoscale.com"}).Status)
	assertForbidden(t, send(t, s, req{method: "GET", path: "/api-key", creds: k, host: "api-ch-gva-2.exoscale.com"}), "Forbidden by role policy for iam")
	assertForbidden(t, send(t, s, req{method: "GET", path: "/api-key", creds: k}), "Forbidden by role policy for iam") // the default zone: ch-gva-2

	fra := New(WithZone("de-fra-1"))
	k = celRoleKey(t, fra, "fra-only", policyJSON)
	assert.Equal(t, http.StatusOK, send(t, fra, req{method: "GET", path: "/api-key", creds: k}).Status, "WithZone sets the zone of requests")
}

func TestCELRole_SourceIPCondition(t *testing.T) {
	t.Parallel()
	s := New()
	k := celRoleKey(t, s, "office", `{"default-service-strategy":"allow","services":{
		"iam":{"type":"rules","rules":[
			{"action":"allow","expression":"source_ip.inIpRange('10.20.0.0/16')"},
			{"action":"deny","expression":"true"}]}}}`)
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key", creds: k, remote: "10.20.3.4:50000"}).Status)
	assertForbidden(t, send(t, s, req{method: "GET", path: "/api-key", creds: k, remote: "10.21.3.4:50000"}), "Forbidden by role policy for iam")
	res := send(t, s, req{method: "GET", path: "/api-key", creds: k, remote: "203.0.113.9:50000"})
	assert.Equal(t, http.StatusForbidden, res.Status)
	// A forwarding header is not the source address.
	r := req{method: "GET", path: "/api-key", creds: k, remote: "203.0.113.9:50000"}.build()
	r.Header.Set("X-Forwarded-For", "10.20.3.4")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	assert.Equal(t, http.StatusForbidden, rec.Code)
}

func TestCELRole_ErrorsAndFalseGoOn(t *testing.T) {
	t.Parallel()
	s := New()
	// Rule 1 errors where the request has no name parameter, rule 2 is false but for
	// create-api-key, rule 3 has a syntax error: each concludes nothing for list-api-keys.
	k := celRoleKey(t, s, "careful", `{"default-service-strategy":"deny","services":{
		"iam":{"type":"rules","rules":[
			{"action":"deny","expression":"parameters.name == 'forbidden'"},
			{"action":"deny","expression":"operation == 'create-api-key' && parameters['role-id'] == '`+AdminRoleID+`'"},
			{"action":"deny","expression":"operation in ['list-api-keys'"},
			{"action":"allow","expression":"operation in ['list-api-keys', 'create-api-key']"}]}}}`)
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key", creds: k}).Status)
	assertForbidden(t, send(t, s, req{method: "POST", path: "/api-key", creds: k, body: `{"name":"forbidden","role-id":"` + RestrictedRoleID + `"}`}),
		"Forbidden by role policy for iam")
	assertForbidden(t, send(t, s, req{method: "POST", path: "/api-key", creds: k, body: `{"name":"escalate","role-id":"` + AdminRoleID + `"}`}),
		"Forbidden by role policy for iam")
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "POST", path: "/api-key", creds: k, body: `{"name":"ok","role-id":"` + RestrictedRoleID + `"}`}).Status)
	assertForbidden(t, send(t, s, req{method: "GET", path: "/iam-role", creds: k}), "Forbidden by role policy for iam")
}

func TestCELRole_ResourcesBinding(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	protected := createRole(t, s, admin, "protected", "")
	doomed := createRole(t, s, admin, "doomed", "")
	k := celRoleKey(t, s, "role-janitor", `{"default-service-strategy":"deny","services":{
		"iam":{"type":"rules","rules":[
			{"action":"deny","expression":"resources.iam_role.name == 'protected'"},
			{"action":"allow","expression":"operation == 'delete-iam-role'"}]}}}`)
	assertForbidden(t, send(t, s, req{method: "DELETE", path: "/iam-role/" + protected, creds: k}), "Forbidden by role policy for iam")
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "DELETE", path: "/iam-role/" + doomed, creds: k}).Status)
}

func TestOrganizationPolicy_CELDenyBindsEvenAdmin(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	must(t, s, req{method: "PUT", path: "/iam-organization-policy", creds: admin, body: `{"default-service-strategy":"allow","services":{
		"iam":{"type":"rules","rules":[
			{"action":"deny","expression":"operation == 'create-api-key' && !parameters.name.startsWith('svc-')"},
			{"action":"allow","expression":"true"}]}}}`})
	assertForbidden(t, send(t, s, req{method: "POST", path: "/api-key", creds: admin, body: `{"name":"adhoc","role-id":"` + RestrictedRoleID + `"}`}),
		"Forbidden by organization policy for iam")
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "POST", path: "/api-key", creds: admin, body: `{"name":"svc-ci","role-id":"` + RestrictedRoleID + `"}`}).Status)
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/api-key", creds: admin}).Status)
}

func TestListZones_SignedRequestsAreHeldToPolicies(t *testing.T) {
	t.Parallel()
	s := New()
	k := celRoleKey(t, s, "no-compute", `{"default-service-strategy":"allow","services":{"compute":{"type":"deny"}}}`)
	assertForbidden(t, send(t, s, req{method: "GET", path: "/zone", creds: k}), "Forbidden by role policy for compute")
	assert.Equal(t, http.StatusOK, send(t, s, req{method: "GET", path: "/zone"}).Status, "unsigned: public")
}

func TestPolicyAllows_CostlyRuleIsCutShortAndGoesOn(t *testing.T) {
	t.Parallel()
	nums := make([]string, 500)
	for i := range nums {
		nums[i] = strconv.Itoa(i)
	}
	list := "[" + strings.Join(nums, ",") + "]"
	costly := list + ".all(x, " + list + ".all(y, x + y >= 0))" // 250 000 steps: past the cost limit
	r := &policyRequest{operation: "list-api-keys", service: "iam"}
	assert.True(t, rulesPolicy(t, "iam", [2]string{"deny", costly}, [2]string{"allow", "true"}).allows(r))
	assert.False(t, rulesPolicy(t, "iam", [2]string{"allow", costly}).allows(r))
}
