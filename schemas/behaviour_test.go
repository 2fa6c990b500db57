package schemas

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBehaviour_NamesOnlyCatalogOperations: every operation the behaviour data points the
// engine to exists, so a renamed operation cannot leave a dangling lookup.
func TestBehaviour_NamesOnlyCatalogOperations(t *testing.T) {
	t.Parallel()
	exists := func(name, where string) {
		t.Helper()
		if name == "" {
			return
		}
		_, ok := Lookup(name)
		assert.True(t, ok, "%s names %q, which is not in the catalog", where, name)
	}
	for _, ts := range Toolsets {
		info := Toolset(ts)
		exists(info.ListTool, ts+" list tool")
		exists(info.NameLookup, ts+" name lookup")
		exists(info.RoleLookup, ts+" role lookup")
		if info.ListTool != "" {
			assert.True(t, strings.HasPrefix(info.ListHint, info.ListTool+" "), ts)
		}
	}
	exists(Self.Lookup, "Self")
	exists(Self.RoleLookup, "Self")
	exists(Self.OrgPolicyLookup, "Self")
	for _, n := range Self.NeedAlso {
		exists(n, "Self")
	}
	exists(Hints.Operation, "Hints.Operation")
	exists(Hints.OrgPolicy, "Hints.OrgPolicy")
	exists(Hints.NewRole, "Hints.NewRole")
	exists(Hints.NewKey, "Hints.NewKey")
	exists(strings.Fields(Hints.AssumeRolePolicy)[0], "Hints.AssumeRolePolicy")
	for _, name := range strings.Split(Hints.GrantInRole, ", then ") {
		exists(name, "Hints.GrantInRole")
	}
	for _, op := range Catalog() {
		exists(op.FetchAfter, op.Name+" FetchAfter")
		if op.Duplicate != nil {
			assert.Equal(t, Create, op.Access, op.Name)
			exists(op.Duplicate.List, op.Name+" Duplicate")
			assert.Contains(t, op.LocalParams, ParamAllowDuplicateName, op.Name)
		}
		if f := op.SecretFile; f != nil && f.BaseURL != nil {
			exists(f.BaseURL.Lookup, op.Name+" BaseURL")
			exists(f.BaseURL.ScopeLookup, op.Name+" BaseURL scope")
		}
	}
}

// TestBehaviour_SecretBearingOperationsAreDescribed: each has a secret file whose variables
// come from its public or secret fields, and an allow-list that holds no secret field and only
// fields of its output schema.
func TestBehaviour_SecretBearingOperationsAreDescribed(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		if len(op.Secrets) == 0 {
			assert.Nil(t, op.SecretFile, op.Name)
			assert.Empty(t, op.Public, op.Name)
			continue
		}
		require.NotNil(t, op.SecretFile, op.Name)
		var out struct{ Properties map[string]json.RawMessage }
		require.NoError(t, json.Unmarshal(op.OutputSchema, &out))
		for _, f := range op.Public {
			assert.NotContains(t, op.Secrets, f, op.Name)
			assert.Contains(t, out.Properties, f, op.Name)
		}
		for _, v := range op.SecretFile.Vars {
			assert.True(t, slices.Contains(op.Secrets, v.Field) || slices.Contains(op.Public, v.Field), "%s: %s", op.Name, v.Field)
		}
		assert.Contains(t, op.SecretFile.Usage, "%s", op.Name)
	}
}

func TestBehaviour_LockoutRulesSitOnTheirOperations(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		switch op.Lockout {
		case LockoutNone:
		case LockoutOwnKey, LockoutOwnRole:
			assert.Equal(t, Delete, op.Access, op.Name)
		case LockoutOwnRolePolicy, LockoutOrgPolicy:
			assert.Equal(t, Replace, op.Access, op.Name)
		case LockoutOrgReset:
			assert.Equal(t, Reset, op.Access, op.Name)
		default:
			t.Errorf("%s: unknown lockout rule %q", op.Name, op.Lockout)
		}
	}
}

// TestBehaviour_PolicyArgsNameRealArguments: every argument PolicyArgs points to is an input
// property, and every input that carries a policy is marked, so none goes unchecked.
func TestBehaviour_PolicyArgsNameRealArguments(t *testing.T) {
	t.Parallel()
	marked := 0
	for _, op := range Catalog() {
		nodes, err := indexSchema(op.InputSchema)
		require.NoError(t, err)
		props := nodes[""].properties
		carries := slices.Contains(props, "services") || slices.Contains(props, "policy") || slices.Contains(props, "assume-role-policy")
		if op.Policy == nil {
			assert.False(t, carries, "%s takes a policy but has no PolicyArgs", op.Name)
			continue
		}
		marked++
		if op.Policy.Flat {
			assert.Subset(t, props, []string{"default-service-strategy", "services"}, op.Name)
		}
		for _, f := range []string{op.Policy.Field, op.Policy.AssumeRole} {
			if f != "" {
				assert.Contains(t, props, f, op.Name)
			}
		}
	}
	assert.Equal(t, 4, marked)
}
