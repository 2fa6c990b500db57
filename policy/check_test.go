package policy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func findProblem(ps []Problem, sev Severity, service string, rule int, contains string) bool {
	for _, p := range ps {
		if p.Severity == sev && p.Service == service && p.Rule == rule && strings.Contains(p.Message, contains) {
			return true
		}
	}
	return false
}

func TestCheck_Problems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		policy   string
		sev      Severity
		service  string
		rule     int
		contains string
	}{
		{"syntax error", rules("deny", "compute", "allow", "operation in [list-instances"), SeverityError, "compute", 0, "CEL does not compile"},
		{"unquoted operation name", rules("deny", "compute", "allow", "operation in [list-instances]"), SeverityError, "compute", 0, "instances"},
		{"type error", rules("deny", "compute", "allow", "operation == 1"), SeverityError, "compute", 0, "type error"},
		{"undeclared function", rules("deny", "compute", "allow", "frob(operation)"), SeverityError, "compute", 0, "uses frob"},
		{"upper-case service", `{"default-service-strategy":"allow","services":{"IAM":{"type":"deny"}}}`, SeverityError, "IAM", -1, `did you mean iam?`},
		{"service with a space", `{"default-service-strategy":"allow","services":{"iam ":{"type":"deny"}}}`, SeverityError, "iam ", -1, `did you mean iam?`},
		{"misspelt service", `{"default-service-strategy":"allow","services":{"computer":{"type":"deny"}}}`, SeverityError, "computer", -1, `did you mean compute?`},
		{"misspelt operation", rules("deny", "compute", "allow", "operation == 'list-instancez'"), SeverityError, "compute", 0, "list-instancez: no such operation: did you mean list-instances?"},
		{"misspelt operation in a list", rules("deny", "compute", "allow", "operation in ['list-zones', 'get-instanse']"), SeverityError, "compute", 0, "get-instanse: no such operation: did you mean get-instance"},
		{"operation reversed comparison", rules("deny", "compute", "allow", "'list-instancez' == operation"), SeverityError, "compute", 0, "list-instancez"},
		{"documented operation under another service", rules("deny", "compute", "allow", "operation == 'create-api-key'"), SeverityError, "compute", 0, "create-api-key is an operation of service iam"},
		{"inferred operation under another service", rules("deny", "iam", "allow", "operation == 'create-kms-key'"), SeverityWarning, "iam", 0, "inferred"},
		{"rules without rules", `{"default-service-strategy":"allow","services":{"dns":{"type":"rules","rules":[]}}}`, SeverityError, "dns", -1, "without rules"},
		{"never true", rules("allow", "iam", "allow", "false"), SeverityWarning, "iam", 0, "never decides"},
		{"after always-true", rules("allow", "compute", "allow", "true", "deny", "operation == 'delete-instance'"), SeverityWarning, "compute", 1, "after rule 0"},
		{"rules ignored by type allow", `{"default-service-strategy":"allow","services":{"dns":{"type":"allow","rules":[{"action":"deny","expression":"true"}]}}}`, SeverityWarning, "dns", -1, "ignores its 1 rules"},
		{"resources ignored", `{"default-service-strategy":"allow","services":{"dns":{"type":"rules","rules":[{"action":"allow","expression":"true","resources":["x"]}]}}}`, SeverityWarning, "dns", 0, "no longer supported"},
		{"undocumented class", `{"default-service-strategy":"allow","services":{"kms":{"type":"deny"}}}`, SeverityWarning, "kms", -1, "no Exoscale source documents"},
		{"async without get-operation", `{"default-service-strategy":"deny","services":{"iam":{"type":"allow"}}}`, SeverityWarning, "", -1, "denies get-operation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ps := Check(mustParse(t, c.policy))
			assert.True(t, findProblem(ps, c.sev, c.service, c.rule, c.contains), "want %s %s[%d] %q in %v", c.sev, c.service, c.rule, c.contains, ps)
		})
	}
}

func TestCheck_HarmlessPoliciesPass(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		allowAllJSON,
		rules("allow", "compute", "deny", "operation == 'delete-instance'", "allow", "true"),
		`{"default-service-strategy":"deny","services":{"iam":{"type":"allow"},"compute":{"type":"rules","rules":[{"action":"allow","expression":"operation in ['list-zones', 'get-operation']"}]}}}`,
		rules("deny", "iam", "allow", "source_ip.inIpRange('89.145.160.0/24') && operation.startsWith('list-')"),
		rules("deny", "sos", "allow", "operation == 'list-buckets' && parameters.bucket == 'logs'"),
		rules("allow", "compute", "deny", "resource.sks_nodepool.name in ['important-nodepool', 'foobar']", "allow", "true"),
	} {
		ps := Check(mustParse(t, s))
		assert.Empty(t, ps, s)
	}
}

func TestCheckJSON_ParseErrorNamesField(t *testing.T) {
	t.Parallel()
	_, ps := CheckJSON([]byte(`{"default-service-strategy":"allow","services":{"iam":{"type":"rules","rules":[{"action":"permit","expression":"true"}]}}}`))
	require.Len(t, ps, 1)
	assert.Equal(t, SeverityError, ps[0].Severity)
	assert.Contains(t, ps[0].Message, "services.iam.rules[0].action")
	assert.Contains(t, ps[0].Message, `"allow", "deny"`)
	assert.True(t, HasErrors(ps))
}

func TestParse_Errors(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, field string }{
		{`[]`, ""},
		{`{"services":{}}`, "default-service-strategy"},
		{`{"default-service-strategy":"allow"}`, "services"},
		{`{"default-service-strategy":"maybe","services":{}}`, "default-service-strategy"},
		{`{"default-service-strategy":"allow","services":{},"extra":1}`, "extra"},
		{`{"default-service-strategy":"allow","services":{"iam":{}}}`, "services.iam.type"},
		{`{"default-service-strategy":"allow","services":{"iam ":{"type":"x"}}}`, `services."iam ".type`},
		{`{"default-service-strategy":"allow","services":{"iam":{"type":"rules","rules":[{"action":"allow"}]}}}`, "services.iam.rules[0].expression"},
		{`{"default-service-strategy":"allow","services":{"iam":{"type":"rules","rules":{}}}}`, "services.iam.rules"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.in))
		var pe *ParseError
		require.ErrorAs(t, err, &pe, c.in)
		assert.Equal(t, c.field, pe.Field, c.in)
	}
}

func TestParse_RoundTrip(t *testing.T) {
	t.Parallel()
	in := rules("deny", "compute", "allow", "operation == 'list-zones'")
	p := mustParse(t, in)
	again := mustParse(t, string(p.JSON()))
	assert.Equal(t, p, again)
}

func TestCheckAssumeRolePolicy(t *testing.T) {
	t.Parallel()
	assert.Empty(t, CheckAssumeRolePolicy([]byte(`{"rules":[{"action":"allow","expression":"api_key == 'EXOabc'"}]}`)))
	ps := CheckAssumeRolePolicy([]byte(`{"rules":[{"action":"allow","expression":"api_key == "}]}`))
	require.Len(t, ps, 1)
	assert.Equal(t, SeverityError, ps[0].Severity)
	assert.Contains(t, ps[0].Message, "assume-role-policy.rules[0]: CEL does not compile")
	ps = CheckAssumeRolePolicy([]byte(`{"rules":[{"action":"allow","expression":"caller.role == 'x'"}]}`))
	require.Len(t, ps, 1)
	assert.Equal(t, SeverityWarning, ps[0].Severity)
	ps = CheckAssumeRolePolicy([]byte(`{"rules":[{"action":"maybe","expression":"true"}]}`))
	require.Len(t, ps, 1)
	assert.Contains(t, ps[0].Message, "assume-role-policy.rules[0].action")
	ps = CheckAssumeRolePolicy([]byte(`{"statements":[]}`))
	require.Len(t, ps, 1)
	assert.Contains(t, ps[0].Message, "statements")
}

func TestEvaluate_CostlyExpressionIsConditionalNotAHang(t *testing.T) {
	t.Parallel()
	ten := "[0,1,2,3,4,5,6,7,8,9]"
	expr := ten + ".all(a, " + ten + ".all(b, " + ten + ".all(c, " + ten + ".all(d, " + ten + ".all(e, " + ten + ".all(f, operation != 'x'))))))"
	d := Evaluate(nil, mustParse(t, rules("deny", "compute", "allow", expr)), Request{Operation: "list-zones"})
	assert.Equal(t, Conditional, d.Outcome, "%+v", d)
	assert.Equal(t, []string{"evaluation cost"}, d.DependsOn)
}

func TestCheck_TooLongExpression(t *testing.T) {
	t.Parallel()
	long := "operation == 'list-zones'" + strings.Repeat(" || operation == 'list-zones'", 400)
	ps := Check(mustParse(t, rules("deny", "compute", "allow", long)))
	assert.True(t, findProblem(ps, SeverityError, "compute", 0, "longer than"), "%v", ps)
}
