package workflows

import (
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/tools"
	"github.com/exokeys/exoscale-keys-mcp/tools/iamtools"
)

// TestInstructions_TeachTheOneCallRestrictedKeyWhenServed: with the composite tools served,
// the lesson is one call (create-restricted-api-key) plus clone and rotate, never the
// three-call role-then-key recipe; without the composite, the recipe comes back.
func TestInstructions_TeachTheOneCallRestrictedKeyWhenServed(t *testing.T) {
	t.Parallel()
	v := newEnv(t, tools.Options{})
	var all tools.Registry
	require.NoError(t, all.AddTools(v.e.CatalogTools()...))
	require.NoError(t, all.AddTools(Tools(v.e, Options{})...))

	text := v.e.Instructions(&all)
	assert.Contains(t, text, "create-restricted-api-key with name and operations")
	assert.Contains(t, text, "clone-api-key")
	assert.Contains(t, text, "rotate-api-key")
	assert.NotContains(t, text, "create-iam-role", "the three-call recipe is not taught when one call does it")

	without, err := all.Filtered(tools.Filter{Exclude: []string{CreateRestrictedKey}})
	require.NoError(t, err)
	text = v.e.Instructions(without)
	assert.NotContains(t, text, "create-restricted-api-key")
	assert.Contains(t, text, "create-iam-role with a policy")

	readOnly, err := all.Filtered(tools.Filter{ReadOnly: true})
	require.NoError(t, err)
	text = v.e.Instructions(readOnly)
	for _, name := range []string{"create-restricted-api-key", "clone-api-key", "rotate-api-key", "create-iam-role"} {
		assert.NotContains(t, text, name)
	}
}

// TestPrompts_ServedOnlyWithTheToolsTheyName: every tool a prompt's text names is in its
// Needs, and a filtered registry (read-only, a toolset) drops a prompt whose tools it does not
// serve: read-only mode used to serve rotate-key, which sends the model to rotate-api-key.
func TestPrompts_ServedOnlyWithTheToolsTheyName(t *testing.T) {
	t.Parallel()
	v := newEnv(t, tools.Options{})
	var all tools.Registry
	require.NoError(t, all.AddTools(v.e.CatalogTools()...))
	require.NoError(t, iamtools.Register(&all, v.e))
	require.NoError(t, all.AddTools(Tools(v.e, Options{})...))
	all.AddPrompts(Prompts()...)

	args := map[string]string{"name": "k", "allow": "list instances", "key": "ci", "retire-old": "yes", "zones": "ch-gva-2"}
	for _, p := range all.Prompts() {
		res, err := p.Get(context.Background(), args)
		require.NoError(t, err)
		text := res.Messages[0].Text
		for _, tool := range all.Tools() {
			if regexp.MustCompile(`(^|[^a-z-])` + regexp.QuoteMeta(tool.Name) + `($|[^a-z-])`).MatchString(text) {
				assert.Contains(t, p.Needs, tool.Name, "prompt %s names %s", p.Name, tool.Name)
			}
		}
		for _, n := range p.Needs {
			_, ok := all.Tool(n)
			assert.True(t, ok, "prompt %s needs %s, which is no tool", p.Name, n)
		}
	}

	names := func(r *tools.Registry) []string {
		var out []string
		for _, p := range r.Prompts() {
			out = append(out, p.Name)
		}
		return out
	}
	ro, err := all.Filtered(tools.Filter{ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"review-key-hygiene"}, names(ro))
	audit, err := all.Filtered(tools.Filter{Toolsets: []string{"iam-audit"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"review-key-hygiene"}, names(audit))
	full, err := all.Filtered(tools.Filter{})
	require.NoError(t, err)
	assert.Equal(t, []string{"create-restricted-key", "rotate-key", "review-key-hygiene"}, names(full))
}
