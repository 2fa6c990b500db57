package iamtools

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

type env struct {
	sb  *sandbox.Sandbox
	e   *tools.Engine
	reg *tools.Registry
	key string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sb, c := sandboxtest.ServerClient(t)
	e, err := tools.New(tools.Options{Client: c, Secrets: tools.SecretDelivery{Mode: tools.DeliverInline}})
	require.NoError(t, err)
	var reg tools.Registry
	require.NoError(t, Register(&reg, e))
	return &env{sb: sb, e: e, reg: &reg, key: c.Credentials().Key}
}

// call runs a tool of the registry and decodes its value.
func (v *env) call(t *testing.T, name string, args map[string]any) (tools.Result, map[string]any) {
	t.Helper()
	tool, ok := v.reg.Tool(name)
	require.True(t, ok, name)
	res, err := tool.Handler(context.Background(), args)
	require.NoError(t, err)
	if res.IsError() {
		return res, nil
	}
	var out map[string]any
	require.NoError(t, json.Unmarshal(res.Value, &out))
	return res, out
}

func TestListIAMOperations_NoArgumentsCountsPerService(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	res, out := v.call(t, "list-iam-operations", nil)
	require.Equal(t, tools.OK, res.Outcome, res.Text)
	assert.EqualValues(t, 374, out["total"])
	assert.NotContains(t, out, "operations", "no hundreds of rows")
	assert.Contains(t, out["filter"], "service")
	assert.Less(t, len(res.Value), 1200)
}

func TestListIAMOperations_Filters(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	_, out := v.call(t, "list-iam-operations", map[string]any{"service": "iam", "access": "write"})
	ops := out["operations"].([]any)
	require.NotEmpty(t, ops)
	var names []string
	for _, o := range ops {
		m := o.(map[string]any)
		assert.Equal(t, "iam", m["service"])
		assert.Equal(t, "write", m["access"])
		assert.NotEqual(t, "GET", m["method"])
		names = append(names, m["operation"].(string))
	}
	assert.Contains(t, names, "update-iam-role-policy")
	assert.NotContains(t, names, "list-api-keys")

	res, out := v.call(t, "list-iam-operations", map[string]any{"match": "ai-api-key"})
	assert.Contains(t, res.Note, "service-inferred")
	for _, o := range out["operations"].([]any) {
		m := o.(map[string]any)
		assert.Contains(t, m["operation"], "ai-api-key")
		assert.Equal(t, true, m["service-inferred"], m["operation"])
	}

	for _, bad := range []map[string]any{{"service": "computer"}, {"access": "delete"}, {"servce": "iam"}, {"match": 3}} {
		res, _ := v.call(t, "list-iam-operations", bad)
		assert.Equal(t, tools.Invalid, res.Outcome, "%v", bad)
	}
}

func decisions(t *testing.T, out map[string]any) map[string]map[string]any {
	t.Helper()
	m := map[string]map[string]any{}
	for _, r := range out["results"].([]any) {
		rr := r.(map[string]any)
		m[rr["operation"].(string)] = rr
	}
	return m
}

// TestCheckIAMAccess_RoleDenyFixAppliedThenAllowed: the fix proposed for a deny, applied as
// given, makes the same check answer allow.
func TestCheckIAMAccess_RoleDenyFixAppliedThenAllowed(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	args := map[string]any{"role-id": sandbox.RestrictedRoleID, "operations": []any{"list-instances", "create-api-key"}}
	res, out := v.call(t, "check-iam-access", args)
	require.Equal(t, tools.OK, res.Outcome, res.Text)
	d := decisions(t, out)
	assert.Equal(t, "allow", d["list-instances"]["decision"])
	assert.Equal(t, map[string]any{"index": float64(0), "expression": "operation in ['list-zones', 'list-instances', 'get-instance', 'get-operation']"}, d["list-instances"]["rule"])
	deny := d["create-api-key"]
	assert.Equal(t, "deny", deny["decision"])
	assert.Equal(t, "role", deny["layer"])
	assert.Equal(t, "default-service-strategy", deny["by"])
	fix := deny["fix"].([]any)[0].(map[string]any)
	require.Equal(t, "update-iam-role-policy", fix["tool"])
	fixArgs := fix["arguments"].(map[string]any)
	assert.Equal(t, sandbox.RestrictedRoleID, fixArgs["id"])
	assert.Zero(t, v.sb.Requests("PUT", "/iam-role/*"), "nothing applied")

	applied, err := v.e.Call(context.Background(), "update-iam-role-policy", fixArgs)
	require.NoError(t, err)
	require.Equal(t, tools.OK, applied.Outcome, applied.Text)
	_, out = v.call(t, "check-iam-access", args)
	assert.Equal(t, "allow", decisions(t, out)["create-api-key"]["decision"])
}

func TestCheckIAMAccess_KeyReadsItsRoleAndTheOrganization(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	res, out := v.call(t, "check-iam-access", map[string]any{"api-key": v.key, "operations": []any{"delete-api-key", "list-zones"}})
	require.Equal(t, tools.OK, res.Outcome, res.Text)
	assert.Equal(t, sandbox.AdminRoleID, out["subject"].(map[string]any)["role-id"])
	for op, d := range decisions(t, out) {
		assert.Equal(t, "allow", d["decision"], op)
	}
	// An organization policy denying iam: the layer that decides is the organization's.
	set, err := v.e.Call(context.Background(), "update-iam-organization-policy", map[string]any{"default-service-strategy": "allow",
		"services": map[string]any{"compute": map[string]any{"type": "rules", "rules": []any{
			map[string]any{"action": "deny", "expression": "operation == 'list-zones'"}, map[string]any{"action": "allow", "expression": "true"}}}}})
	require.NoError(t, err)
	require.Equal(t, tools.OK, set.Outcome, set.Text)
	_, out = v.call(t, "check-iam-access", map[string]any{"api-key": v.key, "operations": []any{"list-zones"}})
	d := decisions(t, out)["list-zones"]
	assert.Equal(t, "deny", d["decision"])
	assert.Equal(t, "organization", d["layer"])
	assert.Equal(t, map[string]any{"index": float64(0), "expression": "operation == 'list-zones'"}, d["rule"])
	fix := d["fix"].([]any)
	assert.Equal(t, "update-iam-organization-policy", fix[len(fix)-1].(map[string]any)["tool"])
	// The key cannot be read: the failure is the answer, and nothing is guessed.
	v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key/" + v.key, Status: 404, Count: 1})
	res, _ = v.call(t, "check-iam-access", map[string]any{"api-key": v.key, "operations": []any{"list-zones"}})
	assert.Equal(t, tools.Failed, res.Outcome)
	assert.Contains(t, res.Text, "nothing was evaluated")
}

func TestCheckIAMAccess_DraftPolicyConditionalOnZone(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	draft := map[string]any{"default-service-strategy": "deny", "services": map[string]any{"compute": map[string]any{"type": "rules", "rules": []any{
		map[string]any{"action": "allow", "expression": "zone == 'ch-gva-2'"}}}}}
	_, out := v.call(t, "check-iam-access", map[string]any{"policy": draft, "operations": []any{"list-instances", "list-api-keys"}})
	d := decisions(t, out)
	assert.Equal(t, "conditional", d["list-instances"]["decision"])
	assert.Equal(t, []any{"zone"}, d["list-instances"]["depends-on"])
	assert.Equal(t, "deny", d["list-api-keys"]["decision"])
	fix := d["list-api-keys"]["fix"].([]any)[0].(map[string]any)
	assert.Equal(t, "create-iam-role", fix["tool"])
	_, out = v.call(t, "check-iam-access", map[string]any{"policy": draft, "zone": "ch-gva-2", "operations": []any{"list-instances"}})
	assert.Equal(t, "allow", decisions(t, out)["list-instances"]["decision"])
	_, out = v.call(t, "check-iam-access", map[string]any{"policy": draft, "zone": "de-fra-1", "operations": []any{"list-instances"}})
	assert.Equal(t, "deny", decisions(t, out)["list-instances"]["decision"])
}

func TestCheckIAMAccess_BadArgumentsReadNothing(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	before := v.sb.Requests("", "")
	cases := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"operations": []any{"list-zones"}}, "exactly one of"},
		{map[string]any{"role-id": sandbox.AdminRoleID, "api-key": v.key, "operations": []any{"list-zones"}}, "exactly one of"},
		{map[string]any{"role-id": sandbox.AdminRoleID, "operations": []any{}}, "1 to 100"},
		{map[string]any{"role-id": sandbox.AdminRoleID, "operations": []any{"list-instancez"}}, "did you mean list-instances?"},
		{map[string]any{"api-key": "nope", "operations": []any{"list-zones"}}, "EXO"},
		{map[string]any{"policy": map[string]any{"default-service-strategy": "deny", "services": map[string]any{"IAM": map[string]any{"type": "allow"}}}, "operations": []any{"list-zones"}}, "did you mean iam?"},
		{map[string]any{"role-id": sandbox.AdminRoleID, "operations": []any{"list-zones"}, "extra": 1}, `unknown argument "extra"`},
	}
	for _, c := range cases {
		res, _ := v.call(t, "check-iam-access", c.args)
		assert.Equal(t, tools.Invalid, res.Outcome, "%v", c.args)
		assert.Contains(t, res.Text, c.want)
	}
	assert.Equal(t, before, v.sb.Requests("", ""))
}

func TestResources_CatalogGuideAndOneOperation(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	rs := v.reg.Resources()
	require.Len(t, rs, 2)
	got, err := rs[0].Read(context.Background(), rs[0].URI)
	require.NoError(t, err)
	var cat struct {
		Services []struct {
			Service    string
			Operations []map[string]any
		}
	}
	require.NoError(t, json.Unmarshal([]byte(got[0].Text), &cat))
	n := 0
	for _, s := range cat.Services {
		n += len(s.Operations)
	}
	assert.Equal(t, 374, n)
	guide, err := rs[1].Read(context.Background(), rs[1].URI)
	require.NoError(t, err)
	assert.Contains(t, guide[0].Text, "default-service-strategy")

	tpl := v.reg.ResourceTemplates()
	require.Len(t, tpl, 1)
	uri := strings.Replace(tpl[0].URITemplate, "{operation}", "create-iam-role", 1)
	one, err := tpl[0].Read(context.Background(), uri)
	require.NoError(t, err)
	var op map[string]any
	require.NoError(t, json.Unmarshal([]byte(one[0].Text), &op))
	assert.Equal(t, "POST", op["method"])
	assert.Equal(t, "/iam-role", op["path"])
	assert.Contains(t, one[0].Text, `"name":"policy"`)
	_, err = tpl[0].Read(context.Background(), strings.Replace(tpl[0].URITemplate, "{operation}", "create-iam-rolez", 1))
	require.ErrorContains(t, err, "did you mean create-iam-role")
}

// TestTools_ServedInReadOnlyMode: both tools are reads, so --read-only keeps them, and
// --toolsets iam-policy selects them alone.
func TestTools_ServedInReadOnlyMode(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	full, err := v.e.NewRegistry(tools.Filter{})
	require.NoError(t, err)
	require.NoError(t, Register(full, v.e))
	ro, err := full.Filtered(tools.Filter{ReadOnly: true})
	require.NoError(t, err)
	for _, name := range []string{"list-iam-operations", "check-iam-access"} {
		tool, ok := ro.Tool(name)
		require.True(t, ok, name)
		assert.True(t, tool.Annotations.ReadOnly, name)
		assert.False(t, tool.Annotations.Destructive, name)
	}
	_, ok := ro.Tool("update-iam-role-policy")
	assert.False(t, ok)
	only, err := full.Filtered(tools.Filter{Toolsets: []string{Toolset}})
	require.NoError(t, err)
	assert.Len(t, only.Tools(), 2)
	assert.Len(t, only.Resources(), 2, "resources are kept by tool filters")
}

// TestCheckIAMAccess_KeyThatCannotReadIAMIsNotSentInACircle: the 403 advice says "if this key
// can still read IAM, check-iam-access ..."; when check-iam-access itself is refused the read,
// it says it cannot answer with this key and what the operator can do instead.
func TestCheckIAMAccess_KeyThatCannotReadIAMIsNotSentInACircle(t *testing.T) {
	t.Parallel()
	sb, base := sandboxtest.Start(t)
	key, secret, ok := sb.KeyCredentials(sandbox.RestrictedKeyName)
	require.True(t, ok)
	c := sandboxtest.Client(t, base, apiclient.Credentials{Key: key, Secret: secret})
	e, err := tools.New(tools.Options{Client: c, Secrets: tools.SecretDelivery{Mode: tools.DeliverInline}})
	require.NoError(t, err)
	var reg tools.Registry
	require.NoError(t, Register(&reg, e))
	v := &env{sb: sb, e: e, reg: &reg, key: key}

	res, _ := v.call(t, "check-iam-access", map[string]any{"api-key": key, "operations": []any{"list-api-keys"}})
	require.True(t, res.IsError())
	assert.Contains(t, res.Text, "403")
	assert.Contains(t, res.Text, "check-iam-access cannot answer with this server's key")
}

// TestIAMTools_AnswerWithinTheirOutputSchemas: each answer of list-iam-operations (counts, and
// rows) and check-iam-access (role, key, draft; allow, deny with fix, conditional) validates
// against the tool's output schema, which describes every top-level field and requires none.
func TestIAMTools_AnswerWithinTheirOutputSchemas(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	cases := []struct {
		tool string
		args map[string]any
	}{
		{"list-iam-operations", nil},
		{"list-iam-operations", map[string]any{"service": "iam", "access": "read"}},
		{"list-iam-operations", map[string]any{"match": "no-such-thing"}},
		{"check-iam-access", map[string]any{"role-id": sandbox.RestrictedRoleID, "operations": []any{"list-zones", "list-api-keys"}}},
		{"check-iam-access", map[string]any{"api-key": v.key, "operations": []any{"create-api-key"}, "zone": "ch-gva-2"}},
		{"check-iam-access", map[string]any{"policy": map[string]any{"default-service-strategy": "deny", "services": map[string]any{
			"compute": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": "zone == 'ch-gva-2'"}}}}},
			"operations": []any{"list-instances", "list-api-keys"}}},
	}
	for _, tc := range cases {
		tool, ok := v.reg.Tool(tc.tool)
		require.True(t, ok)
		res, out := v.call(t, tc.tool, tc.args)
		require.False(t, res.IsError(), res.Text)
		require.NotEmpty(t, tool.OutputSchema)
		err := schemas.Validate(schemas.Operation{Name: tc.tool + " output", InputSchema: tool.OutputSchema}, out)
		assert.NoError(t, err, "%s %v", tc.tool, tc.args)
		var s struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		require.NoError(t, json.Unmarshal(tool.OutputSchema, &s))
		assert.Equal(t, "object", s.Type)
		assert.Empty(t, s.Required)
		for field := range out {
			assert.Contains(t, s.Properties, field, "%s: %q is not described", tc.tool, field)
		}
	}
}

// TestCheckIAMAccess_NonEditableRoleFixIsANewRole: for a role created with editable: false,
// a deny's fix is create-iam-role with the changed policy, not update-iam-role-policy, which
// Exoscale refuses for such a role.
func TestCheckIAMAccess_NonEditableRoleFixIsANewRole(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	deny := map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}
	made, err := v.e.Call(context.Background(), "create-iam-role", map[string]any{"name": "frozen", "editable": false, "policy": deny})
	require.NoError(t, err)
	require.Equal(t, tools.OK, made.Outcome, made.Text)
	var role struct {
		ID        string              `json:"id"`
		Reference struct{ ID string } `json:"reference"`
	}
	require.NoError(t, json.Unmarshal(made.Value, &role))
	id := role.ID
	if id == "" {
		id = role.Reference.ID
	}
	require.NotEmpty(t, id)

	res, out := v.call(t, "check-iam-access", map[string]any{"role-id": id, "operations": []any{"list-zones"}})
	require.Equal(t, tools.OK, res.Outcome, res.Text)
	b, _ := json.Marshal(out["results"])
	assert.Contains(t, string(b), `"tool":"create-iam-role"`)
	assert.NotContains(t, string(b), "update-iam-role-policy")
	assert.Contains(t, string(b), "editable: false")

	// An editable role keeps the update.
	res, out = v.call(t, "check-iam-access", map[string]any{"role-id": sandbox.RestrictedRoleID, "operations": []any{"list-api-keys"}})
	require.Equal(t, tools.OK, res.Outcome, res.Text)
	b, _ = json.Marshal(out["results"])
	assert.Contains(t, string(b), `"tool":"update-iam-role-policy"`)
}

// TestCheckIAMAccess_FixOfAnUnservedToolIsMarked: under a filter that serves only the IAM
// policy tools, a deny's fix is still given (the policy is useful to a human) but marked
// not-served, and says so; a bad operation does not point to list-iam-operations when that is
// hidden.
func TestCheckIAMAccess_FixOfAnUnservedToolIsMarked(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	draft := map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}
	args := map[string]any{"policy": draft, "operations": []any{"list-api-keys"}}
	_, out := v.call(t, "check-iam-access", args)
	fix := decisions(t, out)["list-api-keys"]["fix"].([]any)[0].(map[string]any)
	require.Equal(t, "create-iam-role", fix["tool"])
	assert.Nil(t, fix["not-served"], "served: no mark")

	v.e.SetServed(func(name string) bool { return name == "check-iam-access" })
	_, out = v.call(t, "check-iam-access", args)
	fix = decisions(t, out)["list-api-keys"]["fix"].([]any)[0].(map[string]any)
	assert.Equal(t, "create-iam-role", fix["tool"], "the fix is kept as data")
	assert.Equal(t, true, fix["not-served"])
	assert.Contains(t, fix["summary"], "not served here")

	res, _ := v.call(t, "check-iam-access", map[string]any{"policy": draft, "operations": []any{"list-instancez"}})
	require.Equal(t, tools.Invalid, res.Outcome)
	assert.NotContains(t, res.Text, "list-iam-operations")
}
