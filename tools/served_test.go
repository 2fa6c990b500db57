package tools_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/internal/server"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// toolNames is every tool the server can serve: the catalog's and the full registry's (IAM
// policy tools, composite tools).
func toolNames(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	var names []string
	for _, op := range schemas.Catalog() {
		seen[op.Name] = true
		names = append(names, op.Name)
	}
	full, err := server.Registry(nil, tools.Filter{})
	require.NoError(t, err)
	for _, tool := range full.Tools() {
		if !seen[tool.Name] {
			seen[tool.Name] = true
			names = append(names, tool.Name)
		}
	}
	return names
}

// servedBy is the served set of the full registry under filter, as internal/server gives it.
func servedBy(t *testing.T, filter tools.Filter) func(string) bool {
	t.Helper()
	full, err := server.Registry(nil, filter)
	require.NoError(t, err)
	reg, err := full.Filtered(filter)
	require.NoError(t, err)
	return func(name string) bool { _, ok := reg.Tool(name); return ok }
}

// named reports the names in text, whole words only ("get-api-key" is not in "get-api-keys").
func named(text string, names []string) []string {
	words := map[string]bool{}
	for _, w := range regexp.MustCompile(`[a-z0-9]+(-[a-z0-9]+)*`).FindAllString(text, -1) {
		words[w] = true
	}
	var out []string
	for _, n := range names {
		if words[n] {
			out = append(out, n)
		}
	}
	return out
}

// subject is the operation an advice text is about (its key's second word; "" for none): the
// text names it as what failed, which the model has just called, not as a next step.
func subject(key string) string {
	if f := strings.Fields(key); len(f) > 1 {
		if _, ok := schemas.Lookup(f[1]); ok {
			return f[1]
		}
	}
	return ""
}

func except(names []string, name string) []string {
	var out []string
	for _, n := range names {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

// TestAdvice_NamesNoToolThatIsNotServed: with no tool served, no advice text of the engine
// (every failure of every catalog operation, the unknown-outcome, not-found, in-use, policy
// and lockout advice) names a tool; each still says something. With every tool served the
// same texts do name tools, so the check is not empty.
func TestAdvice_NamesNoToolThatIsNotServed(t *testing.T) {
	t.Parallel()
	names := toolNames(t)
	none := tools.AdviceTexts(func(string) bool { return false })
	require.Greater(t, len(none), 1000)
	for key, text := range none {
		assert.Empty(t, named(text, except(names, subject(key))), "%s: %s", key, text)
	}
	for _, key := range []string{"unknownOutcomeAdvice create-api-key", `adviceFor list-ai-api-keys 403 "Forbidden by role policy for ai" tenant=false`} {
		assert.NotEmpty(t, none[key], key)
	}

	all := tools.AdviceTexts(func(string) bool { return true })
	var mentioned []string
	for _, text := range all {
		mentioned = append(mentioned, named(text, names)...)
	}
	for _, want := range []string{schemas.Hints.WhichRule, schemas.Hints.Operation, schemas.Hints.OrgPolicy, "list-api-keys", "update-iam-role-policy"} {
		assert.Contains(t, mentioned, want, "served, the advice names it")
	}
}

// TestAdvice_ReadOnlyNamesNoWriteTool: under --read-only no advice text names a tool that
// changes something.
func TestAdvice_ReadOnlyNamesNoWriteTool(t *testing.T) {
	t.Parallel()
	served := servedBy(t, tools.Filter{ReadOnly: true})
	var writes []string
	for _, n := range toolNames(t) {
		if !served(n) {
			writes = append(writes, n)
		}
	}
	require.Contains(t, writes, "update-iam-role-policy")
	require.Contains(t, writes, "create-api-key")
	for key, text := range tools.AdviceTexts(served) {
		assert.Empty(t, named(text, except(writes, subject(key))), "%s: %s", key, text)
	}
}

// forbidding is an Exoscale that refuses every call with message.
func forbidding(t *testing.T, message string) *apiclient.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"` + message + `"}`))
	}))
	t.Cleanup(srv.Close)
	return sandboxtest.Client(t, srv.URL, apiclient.Credentials{Key: "EXOtest", Secret: "s"})
}

// TestCall_ForbiddenUnderAToolsetFilterNamesNoHiddenTool: a key refused by its role reads a
// key (IAM) under --toolsets api-keys, or an AI key under --toolsets ai-api-keys: the advice
// names neither check-iam-access nor get-iam-role nor update-iam-role-policy, which the
// model cannot call there, and says what the operator can do instead.
func TestCall_ForbiddenUnderAToolsetFilterNamesNoHiddenTool(t *testing.T) {
	t.Parallel()
	cases := []struct{ toolset, op, service, id string }{
		{"api-keys", "get-api-key", "iam", "EXO0123456789abcdef01234567"},
		{"ai-api-keys", "get-ai-api-key", "ai", "0b9a7c1e-3c55-4a7e-9d6b-2f1f6b0a9c11"},
	}
	for _, tc := range cases {
		t.Run(tc.toolset, func(t *testing.T) {
			t.Parallel()
			e, err := tools.New(tools.Options{Client: forbidding(t, "Forbidden by role policy for "+tc.service), Secrets: tools.SecretDelivery{Mode: tools.DeliverInline}})
			require.NoError(t, err)
			call := func() string {
				res, err := e.Call(t.Context(), tc.op, map[string]any{"id": tc.id})
				require.NoError(t, err)
				require.Equal(t, tools.Failed, res.Outcome, res.Text)
				return res.Text
			}
			before := call()
			assert.Contains(t, before, schemas.Hints.WhichRule, "served, it is named")

			e.SetServed(servedBy(t, tools.Filter{Toolsets: []string{tc.toolset}}))
			text := call()
			for _, hidden := range []string{"check-iam-access", "get-iam-role", "update-iam-role-policy"} {
				assert.NotContains(t, text, hidden, text)
			}
			assert.Contains(t, text, "Exoscale portal", text)
		})
	}
}

// TestCall_NotFoundWithTheListToolExcludedDoesNotNameIt: get-api-key of an unknown key under
// --exclude-tools list-api-keys says to check the id without sending the model to the list
// tool; a delete of an unknown key says no "next" either.
func TestCall_NotFoundWithTheListToolExcludedDoesNotNameIt(t *testing.T) {
	t.Parallel()
	_, client := sandboxtest.ServerClient(t)
	e, err := tools.New(tools.Options{Client: client, Secrets: tools.SecretDelivery{Mode: tools.DeliverInline}})
	require.NoError(t, err)
	args := map[string]any{"id": "EXO0123456789abcdef01234567"}

	res, err := e.Call(t.Context(), "get-api-key", args)
	require.NoError(t, err)
	require.Equal(t, tools.Failed, res.Outcome, res.Text)
	require.Contains(t, res.Text, "list-api-keys", "served, it is named")

	e.SetServed(servedBy(t, tools.Filter{Exclude: []string{"list-api-keys"}}))
	res, err = e.Call(t.Context(), "get-api-key", args)
	require.NoError(t, err)
	require.Equal(t, tools.Failed, res.Outcome, res.Text)
	assert.Contains(t, res.Text, "check the id")
	assert.NotContains(t, res.Text, "list-api-keys")

	res, err = e.Call(t.Context(), "delete-api-key", args)
	require.NoError(t, err)
	assert.NotContains(t, res.Text+string(res.Value), "list-api-keys")
	assert.True(t, strings.Contains(string(res.Value), "not-found") || res.IsError(), string(res.Value))
}

// TestCall_NoChangeThroughAnOperationLeftOut: an operation the operator left out makes no
// change and reveals nothing, whoever calls it (a composite tool's step); a read stays open.
func TestCall_NoChangeThroughAnOperationLeftOut(t *testing.T) {
	t.Parallel()
	sb, client := sandboxtest.ServerClient(t)
	e, err := tools.New(tools.Options{Client: client, Secrets: tools.SecretDelivery{Mode: tools.DeliverInline}})
	require.NoError(t, err)
	e.SetServed(func(name string) bool { return name == "list-api-keys" })

	key, _, ok := sb.KeyCredentials(sandbox.RestrictedKeyName)
	require.True(t, ok)
	for _, dry := range []bool{false, true} {
		res, err := e.Call(t.Context(), "delete-api-key", map[string]any{"id": key, "dry-run": dry})
		require.NoError(t, err)
		assert.Equal(t, tools.Refused, res.Outcome)
		assert.Contains(t, res.Text, "delete-api-key is not served here")
	}
	_, _, stillThere := sb.KeyCredentials(sandbox.RestrictedKeyName)
	assert.True(t, stillThere)
	assert.Zero(t, sb.Requests(http.MethodDelete, "/api-key/*"))

	res, err := e.Call(t.Context(), "reveal-ai-api-key", map[string]any{"id": "00000000-0000-0000-0000-000000000000"})
	require.NoError(t, err)
	assert.Equal(t, tools.Refused, res.Outcome, "a reveal is no read: %s", res.Text)

	res, err = e.Call(t.Context(), "get-api-key", map[string]any{"id": key})
	require.NoError(t, err)
	assert.Equal(t, tools.OK, res.Outcome, "reads stay open to composite steps: %s", res.Text)
}
