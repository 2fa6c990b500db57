package tools

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// TestPolicyCheck_RefusesWhatExoscaleWouldSilentlySkip: a policy whose rule cannot work is
// refused before anything is sent, dry run included, naming service, rule and problem.
func TestPolicyCheck_RefusesWhatExoscaleWouldSilentlySkip(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	role := func(p map[string]any) map[string]any { return with(map[string]any{"id": sandbox.RestrictedRoleID}, p) }
	compute := func(expr string) map[string]any {
		return rulesPolicy("deny", map[string]any{"compute": rules([2]string{"allow", expr})})
	}
	cases := []struct {
		name, tool string
		args       map[string]any
		want       []string
	}{
		{"syntax", "update-iam-role-policy", role(compute("operation in [list-instances")), []string{"services.compute.rules[0]", "CEL does not compile"}},
		{"unknown service", "update-iam-organization-policy", rulesPolicy("allow", map[string]any{"computer": map[string]any{"type": "deny"}}), []string{"services.computer", "did you mean compute?"}},
		{"misspelt operation", "update-iam-role-policy", role(compute("operation == 'list-instancez'")), []string{"services.compute.rules[0]", "list-instancez: no such operation: did you mean list-instances?"}},
		{"other service", "update-iam-role-policy", role(rulesPolicy("deny", map[string]any{"iam": rules([2]string{"allow", "operation == 'list-zones'"})})), []string{"services.iam.rules[0]", "list-zones is an operation of service compute"}},
		{"rules without rules", "update-iam-role-policy", role(rulesPolicy("deny", map[string]any{"compute": map[string]any{"type": "rules", "rules": []any{}}})), []string{"services.compute", `without rules`}},
		{"create-iam-role policy", "create-iam-role", map[string]any{"name": "checked", "policy": compute("operation == 'list-instancez'")}, []string{"policy: error: services.compute.rules[0]", "did you mean list-instances?"}},
		{"create-iam-role assume-role-policy", "create-iam-role", map[string]any{"name": "checked2", "assume-role-policy": map[string]any{"rules": []any{map[string]any{"action": "allow", "expression": "api_key == "}}}}, []string{"assume-role-policy.rules[0]", "CEL does not compile"}},
		{"update-iam-role assume-role-policy", "update-iam-role", map[string]any{"id": sandbox.RestrictedRoleID, "assume-role-policy": map[string]any{"rules": []any{map[string]any{"action": "allow", "expression": "(("}}}}, []string{"assume-role-policy.rules[0]", "CEL does not compile"}},
	}
	before := v.sb.Requests("", "")
	for _, c := range cases {
		for _, dry := range []bool{false, true} {
			args := c.args
			if dry {
				args = with(args, map[string]any{"dry-run": true})
			}
			res := v.call(t, t.Context(), c.tool, args)
			assert.Equal(t, Invalid, res.Outcome, c.name)
			assert.Contains(t, res.Text, "nothing was sent", c.name)
			for _, w := range c.want {
				assert.Contains(t, res.Text, w, c.name)
			}
		}
	}
	assert.Equal(t, before, v.sb.Requests("", ""), "nothing reached the sandbox")
}

// TestPolicyCheck_WarningsGoInTheNote: what is worth telling but not wrong goes through, with
// the warning in the result's note.
func TestPolicyCheck_WarningsGoInTheNote(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	cases := []struct {
		name   string
		policy map[string]any
		want   string
	}{
		{"never decides", rulesPolicy("deny", map[string]any{"compute": rules([2]string{"allow", "false"}, [2]string{"allow", "operation == 'list-zones'"})}), "never decides"},
		{"after always true", rulesPolicy("deny", map[string]any{"compute": rules([2]string{"allow", "true"}, [2]string{"deny", "operation == 'delete-instance'"})}), "always true"},
		{"async without get-operation", rulesPolicy("deny", map[string]any{"compute": rules([2]string{"allow", "operation == 'create-instance'"})}), "get-operation"},
	}
	for _, c := range cases {
		args := with(map[string]any{"id": sandbox.RestrictedRoleID}, c.policy)
		res := v.call(t, t.Context(), "update-iam-role-policy", with(args, map[string]any{"dry-run": true}))
		assert.Equal(t, DryRun, res.Outcome, "%s: %s", c.name, res.Text)
		assert.Contains(t, res.Note, "Policy check warnings", c.name)
		assert.Contains(t, res.Note, c.want, c.name)
		res = v.call(t, t.Context(), "update-iam-role-policy", args)
		assert.Equal(t, OK, res.Outcome, "%s: %s", c.name, res.Text)
		assert.Contains(t, res.Note, c.want, c.name)
	}
	// A clean policy has no note.
	res := v.call(t, t.Context(), "update-iam-role-policy", with(map[string]any{"id": sandbox.RestrictedRoleID},
		rulesPolicy("deny", map[string]any{"compute": rules([2]string{"allow", "operation in ['list-zones', 'get-operation']"})})))
	assert.Equal(t, OK, res.Outcome, res.Text)
	assert.Empty(t, res.Note)
}
