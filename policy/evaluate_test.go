package policy

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t testing.TB, s string) *Policy {
	t.Helper()
	p, err := Parse([]byte(s))
	require.NoError(t, err, s)
	return p
}

// rules builds a policy whose `svc` entry is type rules with (action, expression) pairs.
func rules(def, svc string, pairs ...string) string {
	s := `{"default-service-strategy":"` + def + `","services":{"` + svc + `":{"type":"rules","rules":[`
	for i := 0; i < len(pairs); i += 2 {
		if i > 0 {
			s += ","
		}
		s += `{"action":"` + pairs[i] + `","expression":` + jsonString(pairs[i+1]) + `}`
	}
	return s + `]}}}`
}

func jsonString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		if r == '"' || r == '\\' {
			b = append(b, '\\')
		}
		b = append(b, string(r)...)
	}
	return string(append(b, '"'))
}

const allowAllJSON = `{"default-service-strategy":"allow","services":{}}`

func TestEvaluate_Semantics(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	full := Request{Zone: "ch-gva-2", SourceIP: "89.145.160.12", APIKey: "EXOabc", Now: now,
		Parameters: map[string]any{"bucket": "logs", "public-ip-assignment": "none"},
		Resources:  map[string]any{"dbaas_service": map[string]any{"name": "prod-db"}}}
	with := func(op string) Request { r := full; r.Operation = op; return r }
	bare := func(op string) Request { return Request{Operation: op} }

	cases := []struct {
		name      string
		org, role string // "" = nil policy
		req       Request
		want      Outcome
		layer     Layer
		by        DecidedBy
		rule      int
		dependsOn []string
	}{
		// Service entry or default strategy.
		{"no policies allow", "", "", with("list-zones"), Allow, LayerRole, ByNoPolicy, -1, nil},
		{"default allow, no entry", allowAllJSON, allowAllJSON, with("create-instance"), Allow, LayerRole, ByDefaultStrategy, -1, nil},
		{"default deny, no entry", allowAllJSON, `{"default-service-strategy":"deny","services":{}}`, with("create-instance"), Deny, LayerRole, ByDefaultStrategy, -1, nil},
		{"missing service falls to default allow", allowAllJSON, `{"default-service-strategy":"allow","services":{"dns":{"type":"deny"}}}`, with("create-instance"), Allow, LayerRole, ByDefaultStrategy, -1, nil},
		{"missing service falls to default deny", allowAllJSON, `{"default-service-strategy":"deny","services":{"iam":{"type":"allow"}}}`, with("create-instance"), Deny, LayerRole, ByDefaultStrategy, -1, nil},
		{"type allow beats default deny", allowAllJSON, `{"default-service-strategy":"deny","services":{"iam":{"type":"allow"}}}`, with("create-api-key"), Allow, LayerRole, ByServiceType, -1, nil},
		{"type deny beats default allow", allowAllJSON, `{"default-service-strategy":"allow","services":{"iam":{"type":"deny"}}}`, with("list-api-keys"), Deny, LayerRole, ByServiceType, -1, nil},
		{"service key is case sensitive", allowAllJSON, `{"default-service-strategy":"allow","services":{"IAM":{"type":"deny"}}}`, with("list-api-keys"), Allow, LayerRole, ByDefaultStrategy, -1, nil},
		{"service key with a space is another key", allowAllJSON, `{"default-service-strategy":"allow","services":{"iam ":{"type":"deny"}}}`, with("list-api-keys"), Allow, LayerRole, ByDefaultStrategy, -1, nil},
		{"list-zones is compute", allowAllJSON, `{"default-service-strategy":"deny","services":{"compute":{"type":"allow"}}}`, with("list-zones"), Allow, LayerRole, ByServiceType, -1, nil},
		// Rules in order.
		{"first true rule decides allow", allowAllJSON, rules("deny", "compute", "allow", "operation == 'list-zones'", "deny", "true"), with("list-zones"), Allow, LayerRole, ByRule, 0, nil},
		{"first true rule decides deny", allowAllJSON, rules("allow", "compute", "deny", "operation == 'delete-instance'", "allow", "true"), with("delete-instance"), Deny, LayerRole, ByRule, 0, nil},
		{"order matters: deny before allow", allowAllJSON, rules("allow", "compute", "deny", "true", "allow", "operation == 'list-zones'"), with("list-zones"), Deny, LayerRole, ByRule, 0, nil},
		{"false goes on", allowAllJSON, rules("deny", "compute", "deny", "false", "allow", "true"), with("list-zones"), Allow, LayerRole, ByRule, 1, nil},
		{"error goes on: missing parameter", allowAllJSON, rules("deny", "compute", "deny", "parameters.nope == 'x'", "allow", "true"), with("create-instance"), Allow, LayerRole, ByRule, 1, nil},
		{"error goes on: division by zero", allowAllJSON, rules("deny", "compute", "deny", "1 / 0 == 1", "allow", "true"), with("list-zones"), Allow, LayerRole, ByRule, 1, nil},
		{"syntax error goes on", allowAllJSON, rules("deny", "compute", "deny", "operation in [list-instances", "allow", "true"), with("list-zones"), Allow, LayerRole, ByRule, 1, nil},
		{"type error goes on", allowAllJSON, rules("deny", "compute", "deny", "operation == 1", "allow", "true"), with("list-zones"), Allow, LayerRole, ByRule, 1, nil},
		{"non-bool result goes on", allowAllJSON, rules("deny", "compute", "allow", "'yes'", "deny", "true"), with("list-zones"), Deny, LayerRole, ByRule, 1, nil},
		{"no rule decides: deny despite default allow", allowAllJSON, rules("allow", "compute", "allow", "operation == 'list-zones'"), with("create-instance"), Deny, LayerRole, ByNoRule, -1, nil},
		{"rules without rules deny", allowAllJSON, `{"default-service-strategy":"allow","services":{"compute":{"type":"rules"}}}`, with("list-zones"), Deny, LayerRole, ByNoRule, -1, nil},
		{"operation in list", allowAllJSON, rules("deny", "iam", "allow", "operation in ['list-api-keys', 'get-api-key']"), with("get-api-key"), Allow, LayerRole, ByRule, 0, nil},
		{"operation not in list", allowAllJSON, rules("deny", "iam", "allow", "operation in ['list-api-keys', 'get-api-key']"), with("delete-api-key"), Deny, LayerRole, ByNoRule, -1, nil},
		{"service binding", allowAllJSON, rules("deny", "dns", "allow", "service == 'dns'"), with("list-dns-domains"), Allow, LayerRole, ByRule, 0, nil},
		{"startsWith on operation", allowAllJSON, rules("deny", "compute", "allow", "operation.startsWith('list-')"), with("list-instances"), Allow, LayerRole, ByRule, 0, nil},
		// Both layers.
		{"org deny wins over role allow", `{"default-service-strategy":"allow","services":{"iam":{"type":"deny"}}}`, allowAllJSON, with("list-api-keys"), Deny, LayerOrganization, ByServiceType, -1, nil},
		{"role deny with org allow", allowAllJSON, `{"default-service-strategy":"deny","services":{}}`, with("list-api-keys"), Deny, LayerRole, ByDefaultStrategy, -1, nil},
		{"both deny: organization reported", `{"default-service-strategy":"deny","services":{}}`, `{"default-service-strategy":"deny","services":{}}`, with("list-api-keys"), Deny, LayerOrganization, ByDefaultStrategy, -1, nil},
		{"org rules allow, role allow", rules("deny", "iam", "allow", "true"), allowAllJSON, with("list-api-keys"), Allow, LayerRole, ByDefaultStrategy, -1, nil},
		{"org conditional, role deny: deny", rules("deny", "iam", "allow", "source_ip.inIpRange('10.0.0.0/8')"), `{"default-service-strategy":"deny","services":{}}`, bare("list-api-keys"), Deny, LayerRole, ByDefaultStrategy, -1, nil},
		{"org deny, role conditional: deny", `{"default-service-strategy":"deny","services":{}}`, rules("deny", "iam", "allow", "zone == 'ch-gva-2'"), bare("list-api-keys"), Deny, LayerOrganization, ByDefaultStrategy, -1, nil},
		// Conditional on unknown bindings.
		{"unknown source_ip", allowAllJSON, rules("deny", "iam", "allow", "source_ip.inIpRange('89.145.160.0/24')"), bare("list-api-keys"), Conditional, LayerRole, ByRule, 0, []string{"source_ip"}},
		{"unknown zone", allowAllJSON, rules("deny", "compute", "allow", "zone == 'ch-gva-2'"), bare("list-instances"), Conditional, LayerRole, ByRule, 0, []string{"zone"}},
		{"unknown parameters", allowAllJSON, rules("deny", "sos", "allow", "parameters.bucket == 'logs'"), bare("get-sos-presigned-url"), Conditional, LayerRole, ByRule, 0, []string{"parameters"}},
		{"unknown resources (singular spelling)", allowAllJSON, rules("allow", "compute", "deny", "resource.sks_nodepool.name in ['important']", "allow", "true"), bare("delete-sks-nodepool"), Conditional, LayerRole, ByRule, 0, []string{"resource"}},
		{"unknown now", allowAllJSON, rules("deny", "compute", "allow", "timestamp(now) < timestamp('2030-01-01T00:00:00Z')"), bare("list-instances"), Conditional, LayerRole, ByRule, 0, []string{"now"}},
		{"unknown api_key", allowAllJSON, rules("deny", "compute", "allow", "api_key == 'EXOabc'"), bare("list-instances"), Conditional, LayerRole, ByRule, 0, []string{"api_key"}},
		{"unknown but short-circuited by false", allowAllJSON, rules("deny", "compute", "allow", "operation == 'x' && zone == 'ch-gva-2'"), bare("list-instances"), Deny, LayerRole, ByNoRule, -1, nil},
		{"unknown but short-circuited by true", allowAllJSON, rules("deny", "compute", "allow", "operation == 'list-instances' || zone == 'x'"), bare("list-instances"), Allow, LayerRole, ByRule, 0, nil},
		{"conditional deny then allow true is conditional", allowAllJSON, rules("deny", "compute", "deny", "zone == 'de-fra-1'", "allow", "true"), bare("list-instances"), Conditional, LayerRole, ByRule, 0, []string{"zone"}},
		{"conditional deny then nothing is certain deny", allowAllJSON, rules("deny", "compute", "deny", "zone == 'de-fra-1'"), bare("list-instances"), Deny, LayerRole, ByNoRule, -1, nil},
		{"conditional allow then allow true is certain allow", allowAllJSON, rules("deny", "compute", "allow", "zone == 'de-fra-1'", "allow", "true"), bare("list-instances"), Allow, LayerRole, ByRule, 1, nil},
		{"both layers conditional: names merged", rules("deny", "compute", "allow", "source_ip.inIpRange('10.0.0.0/8')"), rules("deny", "compute", "allow", "zone == 'ch-gva-2'"), bare("list-instances"), Conditional, LayerOrganization, ByRule, 0, []string{"source_ip", "zone"}},
		// Conditional on functions and bindings this server does not know.
		{"undeclared function", allowAllJSON, rules("deny", "compute", "allow", "operation.lowerAscii() == 'list-zones'"), with("list-zones"), Conditional, LayerRole, ByRule, 0, []string{"lowerAscii"}},
		{"undeclared binding", allowAllJSON, rules("deny", "compute", "allow", "user_email == 'a@b'"), with("list-zones"), Conditional, LayerRole, ByRule, 0, []string{"user_email"}},
		{"unknown operation, no service", allowAllJSON, `{"default-service-strategy":"allow","services":{"iam":{"type":"deny"}}}`, with("no-such-operation"), Conditional, LayerRole, ByUnknownService, -1, []string{"service"}},
		{"unknown operation, explicit service", allowAllJSON, `{"default-service-strategy":"deny","services":{"sos":{"type":"allow"}}}`, Request{Operation: "get-object", Service: "sos"}, Allow, LayerRole, ByServiceType, -1, nil},
		// Zone and source_ip conditions with known values.
		{"zone matches", allowAllJSON, rules("deny", "compute", "allow", "zone == 'ch-gva-2'"), with("list-instances"), Allow, LayerRole, ByRule, 0, nil},
		{"zone differs", allowAllJSON, rules("deny", "compute", "allow", "zone in ['de-fra-1', 'at-vie-1']"), with("list-instances"), Deny, LayerRole, ByNoRule, -1, nil},
		{"inIpRange in range", allowAllJSON, rules("deny", "iam", "allow", "source_ip.inIpRange('89.145.160.0/24')"), with("list-api-keys"), Allow, LayerRole, ByRule, 0, nil},
		{"inIpRange out of range", allowAllJSON, rules("deny", "iam", "allow", "source_ip.inIpRange('10.0.0.0/8')"), with("list-api-keys"), Deny, LayerRole, ByNoRule, -1, nil},
		{"inIpRange bad CIDR is an error: goes on", allowAllJSON, rules("deny", "iam", "allow", "source_ip.inIpRange('not-a-cidr')", "deny", "true"), with("list-api-keys"), Deny, LayerRole, ByRule, 1, nil},
		{"deny outside an IP range", allowAllJSON, rules("deny", "iam", "deny", "!source_ip.inIpRange('10.0.0.0/8')", "allow", "true"), with("list-api-keys"), Deny, LayerRole, ByRule, 0, nil},
		{"parameters.has", allowAllJSON, rules("allow", "compute", "deny", "operation == 'create-instance' && (!parameters.has('public-ip-assignment') || parameters['public-ip-assignment'] != 'none')", "allow", "true"), with("create-instance"), Allow, LayerRole, ByRule, 1, nil},
		{"resources known", allowAllJSON, rules("allow", "dbaas", "deny", "resources.dbaas_service.name == 'prod-db'", "allow", "true"), with("delete-dbaas-service"), Deny, LayerRole, ByRule, 0, nil},
		{"now known", allowAllJSON, rules("deny", "compute", "allow", "timestamp(now) < timestamp('2030-01-01T00:00:00Z')"), with("list-instances"), Allow, LayerRole, ByRule, 0, nil},
	}
	ev := NewEvaluator()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var org, role *Policy
			if c.org != "" {
				org = mustParse(t, c.org)
			}
			if c.role != "" {
				role = mustParse(t, c.role)
			}
			d := ev.Evaluate(org, role, c.req)
			assert.Equal(t, c.want, d.Outcome, "outcome; %+v", d)
			assert.Equal(t, c.layer, d.Layer, "layer")
			assert.Equal(t, c.by, d.By, "by")
			assert.Equal(t, c.rule, d.Rule, "rule")
			assert.Equal(t, c.dependsOn, d.DependsOn, "depends on")
			if d.By == ByRule {
				assert.NotEmpty(t, d.Expression)
			}
		})
	}
	require.GreaterOrEqual(t, len(cases), 40)
}

// Policy changes that once slipped past the self-lockout guard: each leaves the server's key without IAM.
func TestEvaluate_IssueBypassesDenyIAM(t *testing.T) {
	t.Parallel()
	var iamOps []string
	for _, op := range []string{"list-api-keys", "create-api-key", "delete-api-key", "get-iam-role", "update-iam-role-policy", "update-iam-organization-policy", "list-iam-roles"} {
		iamOps = append(iamOps, "'"+op+"'")
	}
	list := "[" + joinComma(iamOps) + "]"
	cases := []struct {
		name      string
		org, role string
	}{
		{"iam allow with expression false", allowAllJSON, rules("allow", "iam", "allow", "false")},
		{"deny every iam op then allow list-zones", allowAllJSON, rules("allow", "iam", "deny", "operation in "+list, "allow", "operation == 'list-zones'")},
		{"org allows only a nonexistent op", rules("allow", "iam", "allow", "operation == 'no-such-operation'"), allowAllJSON},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			org, role := mustParse(t, c.org), mustParse(t, c.role)
			for _, op := range []string{"list-api-keys", "update-iam-role-policy", "get-iam-organization-policy"} {
				d := Evaluate(org, role, Request{Operation: op, Zone: "ch-gva-2"})
				assert.Equal(t, Deny, d.Outcome, "%s: %+v", op, d)
			}
		})
	}
	// Harmless changes stay allowed.
	harmless := mustParse(t, rules("allow", "compute", "deny", "operation == 'delete-instance'", "allow", "true"))
	assert.Equal(t, Allow, Evaluate(nil, harmless, Request{Operation: "update-iam-role-policy"}).Outcome)
	assert.Equal(t, Allow, Evaluate(nil, harmless, Request{Operation: "create-instance"}).Outcome)
	assert.Equal(t, Deny, Evaluate(nil, harmless, Request{Operation: "delete-instance"}).Outcome)
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

func TestEvaluator_CachesProgramsAndIsConcurrencySafe(t *testing.T) {
	t.Parallel()
	ev := NewEvaluator()
	role := mustParse(t, rules("deny", "compute", "deny", "zone == 'de-fra-1'", "allow", "operation.startsWith('list-')"))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				d := ev.Evaluate(nil, role, Request{Operation: "list-instances", Zone: "ch-gva-2"})
				assert.Equal(t, Allow, d.Outcome)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 2, ev.cache.len())
}

func TestProgramCache_Bounded(t *testing.T) {
	t.Parallel()
	c := newProgramCache(3)
	for _, e := range []string{"true", "false", "1 == 1", "2 == 2", "3 == 3"} {
		_, err := c.get(e)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, c.len())
}

func TestSimulate_OneDecisionPerRequest(t *testing.T) {
	t.Parallel()
	role := mustParse(t, rules("deny", "iam", "allow", "operation in ['list-api-keys']"))
	ds := NewEvaluator().Simulate(nil, role, []Request{{Operation: "list-api-keys"}, {Operation: "create-api-key"}, {Operation: "list-zones"}})
	require.Len(t, ds, 3)
	assert.Equal(t, []Outcome{Allow, Deny, Deny}, []Outcome{ds[0].Outcome, ds[1].Outcome, ds[2].Outcome})
	assert.Equal(t, "iam", ds[0].Service)
	assert.Equal(t, ByDefaultStrategy, ds[2].By)
}

func TestEvaluate_InferredServiceIsMarked(t *testing.T) {
	t.Parallel()
	d := Evaluate(nil, nil, Request{Operation: "get-operation"})
	assert.True(t, d.ServiceInferred)
	d = Evaluate(nil, nil, Request{Operation: "list-zones"})
	assert.False(t, d.ServiceInferred)
}

// BenchmarkEvaluate: one request against both layers with a cached rules entry (the
// self-lockout guard evaluates a few dozen of these per guarded call).
func BenchmarkEvaluate(b *testing.B) {
	ev := NewEvaluator()
	org := mustParse(b, rules("allow", "iam", "allow", "source_ip.inIpRange('10.0.0.0/8')"))
	role := mustParse(b, rules("deny", "iam", "deny", "operation == 'delete-api-key'", "allow", "operation.startsWith('list-') || zone == 'ch-gva-2'"))
	req := Request{Operation: "list-api-keys", Zone: "ch-gva-2", SourceIP: "10.1.2.3"}
	for b.Loop() {
		if ev.Evaluate(org, role, req).Outcome != Allow {
			b.Fatal("not allowed")
		}
	}
}
