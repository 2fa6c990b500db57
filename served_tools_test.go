package main

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/internal/server"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
	"github.com/exokeys/exoscale-keys-mcp/tools/iamtools"
	"github.com/exokeys/exoscale-keys-mcp/tools/mcpadapter"
	"github.com/exokeys/exoscale-keys-mcp/tools/workflows"
)

// compositeHints are the composite tools' hints, with why: a composite is as read-only,
// idempotent or destructive as the steps it may run.
var compositeHints = map[string]tools.Annotations{
	// Creates a role and a key (POST, POST): not idempotent; its only delete undoes its own
	// role, leaving the organization as it was.
	workflows.CreateRestrictedKey: {OpenWorld: true},
	workflows.CloneKey:            {OpenWorld: true},
	// Creates a key and, with retire-old, deletes the old one (DELETE): destructive.
	workflows.RotateKey: {Destructive: true, OpenWorld: true},
	// Only GETs.
	workflows.AuditKeys:      {ReadOnly: true, Idempotent: true, OpenWorld: true},
	workflows.ServerIdentity: {ReadOnly: true, Idempotent: true, OpenWorld: true},
	// Reads the embedded catalog only: no call to Exoscale, so not open-world.
	"list-iam-operations": {ReadOnly: true, Idempotent: true},
	// Reads the key, role and organization policy from Exoscale (GETs).
	"check-iam-access": {ReadOnly: true, Idempotent: true, OpenWorld: true},
}

// TestServedTools_HaveExplicitHintsThatFollowTheHTTPContract goes over every tool the server
// can serve (catalog, IAM policy tools, composites): all four MCP hints are set explicitly;
// a catalog tool's follow its method and access (GET read-only and idempotent, PUT and DELETE
// idempotent, DELETE, replace, rotate and reset destructive, POST not idempotent); every other
// tool's are the ones stated above; read-only exposure (Access read) goes with the read-only
// hint for every tool but the reveal-* GETs; and each tool's toolset is a known one.
func TestServedTools_HaveExplicitHintsThatFollowTheHTTPContract(t *testing.T) {
	t.Parallel()
	c, err := apiclient.New(apiclient.Config{Endpoint: "http://127.0.0.1:1", Credentials: apiclient.Credentials{Key: "EXOtest", Secret: "s"}})
	require.NoError(t, err)
	e, err := tools.New(tools.Options{Client: c, Secrets: tools.SecretDelivery{Mode: tools.DeliverInline}})
	require.NoError(t, err)
	reg, err := server.Registry(e, tools.Filter{})
	require.NoError(t, err)

	known := append(slices.Clone(schemas.Toolsets), iamtools.Toolset)
	seen := map[string]bool{}
	for _, tool := range reg.Tools() {
		seen[tool.Name] = true
		a := mcpadapter.Tool(tool).Annotations
		if !assert.True(t, a.ReadOnlyHint != nil && a.DestructiveHint != nil && a.IdempotentHint != nil && a.OpenWorldHint != nil, "%s: every hint explicit", tool.Name) {
			continue
		}
		assert.Contains(t, known, tool.Toolset, "%s: toolset", tool.Name)
		got := tools.Annotations{ReadOnly: *a.ReadOnlyHint, Destructive: *a.DestructiveHint, Idempotent: *a.IdempotentHint, OpenWorld: *a.OpenWorldHint}

		if op, ok := schemas.Lookup(tool.Name); ok {
			want := tools.Annotations{
				ReadOnly:    op.Method == "GET",
				Idempotent:  slices.Contains([]string{"GET", "PUT", "DELETE"}, op.Method),
				Destructive: op.Method == "DELETE" || slices.Contains([]schemas.Access{schemas.Replace, schemas.Rotate, schemas.Reset}, op.Access),
				OpenWorld:   true,
			}
			assert.Equal(t, want, got, "%s (%s, %s)", tool.Name, op.Method, op.Access)
			if op.Access != schemas.Reveal {
				assert.Equal(t, got.ReadOnly, tool.Access == schemas.Read, "%s: read-only hint and read-only exposure agree", tool.Name)
			}
			continue
		}
		want, ok := compositeHints[tool.Name]
		if assert.True(t, ok, "%s: a served tool without stated hints: add it to compositeHints with why", tool.Name) {
			assert.Equal(t, want, got, tool.Name)
		}
		assert.Equal(t, got.ReadOnly, tool.Access == schemas.Read, "%s: read-only hint and read-only exposure agree", tool.Name)
		assert.False(t, got.ReadOnly && got.Destructive, tool.Name)
	}
	for name := range compositeHints {
		assert.True(t, seen[name], "%s is stated but not served", name)
	}
}

// TestServedTools_ReadOnlyAndToolsetFiltersExposeExactlyTheExpectedTools starts the server
// with the filters an operator uses for a reviewer's session and lists what a client sees.
func TestServedTools_ReadOnlyAndToolsetFiltersExposeExactlyTheExpectedTools(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	audit := []string{"audit-iam-keys", "check-iam-access", "get-organization", "get-server-identity", "list-events", "list-iam-operations", "list-users"}
	readOnly := append([]string{
		"get-api-key", "list-api-keys", "get-ai-api-key", "list-ai-api-keys", "get-iam-role", "list-iam-roles",
		"get-iam-organization-policy", "get-deployment", "list-deployments", "get-operation", "list-zones",
	}, audit...)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--toolsets", "iam-policy,iam-audit"}, audit},
		{[]string{"--read-only"}, readOnly},
		{[]string{"--read-only", "--toolsets", "iam-policy,iam-audit"}, audit},
	} {
		s := env.startStdio(t, nil, nil, tc.args...)
		res, err := s.session.ListTools(context.Background(), nil)
		require.NoError(t, err)
		var got []string
		for _, tool := range res.Tools {
			got = append(got, tool.Name)
			require.NotNil(t, tool.Annotations, tool.Name)
			assert.True(t, tool.Annotations.ReadOnlyHint, "%v: %s is read-only", tc.args, tool.Name)
			assert.True(t, tool.Annotations.DestructiveHint != nil && !*tool.Annotations.DestructiveHint, "%v: %s", tc.args, tool.Name)
		}
		assert.ElementsMatch(t, tc.want, got, "%v", tc.args)
	}
}
