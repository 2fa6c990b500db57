package schemas

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAllOperations_Every374(t *testing.T) {
	t.Parallel()
	ops := AllOperations()
	require.Len(t, ops, 374)
	for _, op := range ops {
		assert.NotEmpty(t, op.Service, op.Name)
		assert.NotEmpty(t, op.Path, op.Name)
		assert.Equal(t, op.Method == "GET", op.Access == APIRead, op.Name)
		_, known := LookupService(op.Service)
		assert.True(t, known, "%s: class %s not in Services()", op.Name, op.Service)
	}
}

func TestAPIOperations_ServedToolsAgree(t *testing.T) {
	t.Parallel()
	for _, tool := range Catalog() {
		op, ok := LookupAPIOperation(tool.Name)
		require.True(t, ok, tool.Name)
		assert.Equal(t, tool.Method, op.Method, tool.Name)
		assert.Equal(t, tool.Path, op.Path, tool.Name)
		assert.Equal(t, tool.Async, op.Async, tool.Name)
	}
}

func TestAPIOperations_DocumentedClasses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		op, service string
		inferred    bool
	}{
		{"list-zones", "compute", false},
		{"create-api-key", "iam", false},
		{"update-iam-role-policy", "iam", false},
		{"update-iam-organization-policy", "iam", false},
		{"create-instance", "compute", false},
		{"create-dns-domain", "dns", false},
		{"get-sos-presigned-url", "sos", false},
		{"list-users", "iam", true},
		{"get-operation", "compute", true},
		{"list-events", "audit-trail", true},
		{"create-kms-key", "kms", true},
		{"list-deployments", "ai", true},
		{"list-vpcs", "compute", true},
	}
	for _, c := range cases {
		op, ok := LookupAPIOperation(c.op)
		require.True(t, ok, c.op)
		assert.Equal(t, c.service, op.Service, c.op)
		assert.Equal(t, c.inferred, op.ServiceInferred, c.op)
	}
	for _, s := range []string{"compute", "compute-legacy", "dbaas", "dns", "iam", "sos"} {
		svc, ok := LookupService(s)
		require.True(t, ok, s)
		assert.True(t, svc.Documented, s)
	}
	svc, ok := LookupService("kms")
	require.True(t, ok)
	assert.False(t, svc.Documented)
}

func TestAPIOperation_ParamsAndBody(t *testing.T) {
	t.Parallel()
	op, ok := LookupAPIOperation("create-api-key")
	require.True(t, ok)
	assert.Equal(t, []APIField{{Name: "name", Type: "string", Required: true}, {Name: "role-id", Type: "string(uuid)", Required: true}}, op.Body)
	op, ok = LookupAPIOperation("get-operation")
	require.True(t, ok)
	assert.Equal(t, []APIParam{{Name: "id", In: "path", Type: "string(uuid)", Required: true}}, op.Params)
	assert.False(t, op.Async, "a GET is never async")
	_, ok = LookupAPIOperation("list-instancez")
	assert.False(t, ok)
}

func TestAllOperations_ReturnsCopies(t *testing.T) {
	t.Parallel()
	ops := AllOperations()
	ops[0].Tags[0] = "changed"
	again, _ := LookupAPIOperation(ops[0].Name)
	assert.NotEqual(t, "changed", again.Tags[0])
}

func TestServiceOf_AgreesWithLookup(t *testing.T) {
	t.Parallel()
	for _, op := range AllOperations() {
		svc, inferred, ok := ServiceOf(op.Name)
		require.True(t, ok, op.Name)
		assert.Equal(t, op.Service, svc, op.Name)
		assert.Equal(t, op.ServiceInferred, inferred, op.Name)
	}
	svc, inferred, ok := ServiceOf("no-such-operation")
	assert.False(t, ok)
	assert.Empty(t, svc)
	assert.False(t, inferred)
}
