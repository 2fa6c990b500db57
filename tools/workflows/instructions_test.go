package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/tools"
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
