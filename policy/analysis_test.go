package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFix_ProposalsAllowTheRequest(t *testing.T) {
	t.Parallel()
	ev := NewEvaluator()
	cases := []struct {
		name   string
		org    string
		role   string
		req    Request
		change []Change
		index  int
	}{
		{"missing service entry", allowAllJSON, `{"default-service-strategy":"deny","services":{"iam":{"type":"allow"}}}`, Request{Operation: "list-instances"}, []Change{ChangeAddService}, 0},
		{"type deny", allowAllJSON, `{"default-service-strategy":"allow","services":{"compute":{"type":"deny"}}}`, Request{Operation: "list-instances"}, []Change{ChangeReplaceType}, 0},
		{"denied by a rule: insert before it", allowAllJSON, rules("allow", "compute", "allow", "operation == 'list-zones'", "deny", "operation.startsWith('delete-')", "allow", "true"), Request{Operation: "delete-instance"}, []Change{ChangeInsertRule}, 1},
		{"no rule decided: append", allowAllJSON, rules("allow", "compute", "allow", "operation == 'list-zones'"), Request{Operation: "list-instances"}, []Change{ChangeInsertRule}, 1},
		{"unknown deny rule earlier: go before it", allowAllJSON, rules("allow", "compute", "deny", "zone == 'de-fra-1'", "deny", "true"), Request{Operation: "list-instances"}, []Change{ChangeInsertRule}, 0},
		{"both layers deny", `{"default-service-strategy":"deny","services":{}}`, `{"default-service-strategy":"deny","services":{}}`, Request{Operation: "list-zones"}, []Change{ChangeAddService, ChangeAddService}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			org, role := mustParse(t, c.org), mustParse(t, c.role)
			require.Equal(t, Deny, ev.Evaluate(org, role, c.req).Outcome)
			fps, err := ev.Fix(org, role, c.req)
			require.NoError(t, err)
			require.Len(t, fps, len(c.change))
			for i, fp := range fps {
				assert.Equal(t, c.change[i], fp.Change)
				assert.Equal(t, c.index, fp.RuleIndex)
			}
			assert.Equal(t, LayerRole, fps[0].Layer)
			newOrg, newRole := org, role
			for _, fp := range fps {
				if fp.Layer == LayerRole {
					newRole = fp.Policy
				} else {
					newOrg = fp.Policy
				}
				assert.False(t, HasErrors(Check(fp.Policy)), "the proposal passes Check")
			}
			assert.Equal(t, Allow, ev.Evaluate(newOrg, newRole, c.req).Outcome)
			// Nothing applied: the input policies are unchanged.
			assert.Equal(t, Deny, ev.Evaluate(org, role, c.req).Outcome)
		})
	}
}

func TestFix_OnlyOtherOperationsUnchanged(t *testing.T) {
	t.Parallel()
	role := mustParse(t, rules("allow", "compute", "deny", "operation.startsWith('delete-')", "allow", "true"))
	fps, err := Fix(nil, role, Request{Operation: "delete-instance"})
	require.NoError(t, err)
	require.Len(t, fps, 1)
	assert.Equal(t, Deny, Evaluate(nil, fps[0].Policy, Request{Operation: "delete-security-group"}).Outcome)
	assert.Equal(t, Allow, Evaluate(nil, fps[0].Policy, Request{Operation: "delete-instance"}).Outcome)
}

func TestFix_RefusesWhatIsNotDenied(t *testing.T) {
	t.Parallel()
	_, err := Fix(nil, nil, Request{Operation: "list-zones"})
	require.Error(t, err)
	_, err = Fix(nil, mustParse(t, rules("deny", "compute", "allow", "zone == 'x'")), Request{Operation: "list-zones"})
	assert.ErrorContains(t, err, "conditional")
}

func TestLost_NamesOperationsAndRule(t *testing.T) {
	t.Parallel()
	before := Policies{Role: mustParse(t, `{"default-service-strategy":"allow","services":{}}`)}
	after := Policies{Role: mustParse(t, rules("allow", "iam", "deny", "operation in ['update-iam-role-policy', 'list-api-keys']", "allow", "true"))}
	needed := []Request{{Operation: "list-api-keys"}, {Operation: "get-api-key"}, {Operation: "update-iam-role-policy"}, {Operation: "get-operation"}}
	losses := NewEvaluator().Lost(before, after, needed)
	require.Len(t, losses, 2)
	assert.Equal(t, "list-api-keys", losses[0].Operation)
	assert.Equal(t, "update-iam-role-policy", losses[1].Operation)
	for _, l := range losses {
		assert.True(t, l.WasAllowed)
		assert.Equal(t, Deny, l.After.Outcome)
		assert.Equal(t, LayerRole, l.After.Layer)
		assert.Equal(t, 0, l.After.Rule)
	}
	// Conditional counts as lost: a safety check fails closed.
	cond := Policies{Role: mustParse(t, rules("deny", "iam", "allow", "source_ip.inIpRange('10.0.0.0/8')"))}
	losses = NewEvaluator().Lost(before, cond, []Request{{Operation: "list-api-keys"}})
	require.Len(t, losses, 1)
	assert.Equal(t, Conditional, losses[0].After.Outcome)
	assert.Equal(t, []string{"source_ip"}, losses[0].After.DependsOn)
}

func TestRestrict(t *testing.T) {
	t.Parallel()
	p, err := Restrict(Restriction{Operations: []string{"list-zones", "list-api-keys", "get-api-key"}, Zones: []string{"ch-gva-2"}})
	require.NoError(t, err)
	assert.Empty(t, Check(p))
	ev := NewEvaluator()
	for _, c := range []struct {
		op, zone string
		want     Outcome
	}{
		{"list-api-keys", "ch-gva-2", Allow},
		{"get-api-key", "ch-gva-2", Allow},
		{"list-zones", "ch-gva-2", Allow},
		{"list-api-keys", "de-fra-1", Deny},
		{"create-api-key", "ch-gva-2", Deny},
		{"list-instances", "ch-gva-2", Deny},
		{"list-api-keys", "", Conditional},
	} {
		assert.Equal(t, c.want, ev.Evaluate(nil, p, Request{Operation: c.op, Zone: c.zone}).Outcome, "%s in %q", c.op, c.zone)
	}
	assert.Equal(t, "operation in ['get-api-key', 'list-api-keys'] && zone == 'ch-gva-2'", p.Services["iam"].Rules[0].Expression)

	ro, err := Restrict(Restriction{Services: []string{"dns"}, ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, Allow, ev.Evaluate(nil, ro, Request{Operation: "list-dns-domains"}).Outcome)
	assert.Equal(t, Deny, ev.Evaluate(nil, ro, Request{Operation: "create-dns-domain"}).Outcome)
	assert.Equal(t, Deny, ev.Evaluate(nil, ro, Request{Operation: "list-instances"}).Outcome)

	whole, err := Restrict(Restriction{Services: []string{"iam"}})
	require.NoError(t, err)
	assert.Equal(t, TypeAllow, whole.Services["iam"].Type)

	_, err = Restrict(Restriction{Operations: []string{"list-instancez"}})
	assert.ErrorContains(t, err, "did you mean list-instances?")
	_, err = Restrict(Restriction{Services: []string{"IAM"}})
	assert.ErrorContains(t, err, "did you mean iam?")
	_, err = Restrict(Restriction{})
	assert.Error(t, err)
}

func TestEquivalent(t *testing.T) {
	t.Parallel()
	a := mustParse(t, rules("deny", "iam", "allow", "operation in ['a','b']"))
	b := mustParse(t, rules("deny", "iam", "allow", "operation  in  [ 'a' , 'b' ]"))
	assert.True(t, Equivalent(a, b), "formatting is ignored")
	assert.False(t, Equivalent(a, mustParse(t, rules("deny", "iam", "allow", "operation in ['b','a', 'c']"))))
	assert.False(t, Equivalent(a, mustParse(t, rules("deny", "iam", "deny", "operation in ['a','b']"))))
	assert.False(t, Equivalent(a, mustParse(t, rules("allow", "iam", "allow", "operation in ['a','b']"))))
	assert.True(t, Equivalent(nil, mustParse(t, allowAllJSON)))
	assert.True(t, Equivalent(mustParse(t, `{"default-service-strategy":"deny","services":{"dns":{"type":"deny"}}}`), mustParse(t, `{"default-service-strategy":"deny","services":{}}`)),
		"an entry equal to the default strategy is no entry")
	assert.False(t, Equivalent(mustParse(t, `{"default-service-strategy":"deny","services":{"dns":{"type":"allow"}}}`), mustParse(t, `{"default-service-strategy":"deny","services":{}}`)))
}
