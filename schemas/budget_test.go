package schemas

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the model sees of one tool in tools/list (name, description and input schema as compact
// JSON), counted as bytes/4: every tool stays within budgetMaxTokens, and the catalog's mean
// within budgetMeanTokens. Tools that take a policy state its shape in one line and point to
// list-iam-operations and check-iam-access; the full shape is checked from ValidationSchema,
// which the model never sees.
const (
	budgetMaxTokens  = 250
	budgetMeanTokens = 150
)

// modelVisibleBytes is what tools/list shows the model for op, as the budget counts it.
func modelVisibleBytes(t *testing.T, op Operation) int {
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, op.InputSchema))
	return len(op.Name) + len(op.Description) + b.Len()
}

func TestModelVisibleBudget_EveryToolAndTheMeanWithinLimits(t *testing.T) {
	t.Parallel()
	ops := Catalog()
	require.Len(t, ops, 25)
	total, maxBytes, maxName := 0, 0, ""
	for _, op := range ops {
		n := modelVisibleBytes(t, op)
		total += n
		if n > maxBytes {
			maxBytes, maxName = n, op.Name
		}
		assert.LessOrEqual(t, float64(n)/4, float64(budgetMaxTokens), "%s: model-visible tokens over the per-tool budget", op.Name)
	}
	mean := float64(total) / float64(len(ops)) / 4
	t.Logf("model-visible tools/list: %d bytes for %d tools, mean %.1f tokens/tool (bytes/4), max %.1f (%s); budget max %d, mean %d",
		total, len(ops), mean, float64(maxBytes)/4, maxName, budgetMaxTokens, budgetMeanTokens)
	assert.LessOrEqual(t, mean, float64(budgetMeanTokens), "mean model-visible tokens per tool over budget")
}

// The abridged schema the model sees and the full one the arguments are checked against agree
// on the arguments themselves: same top-level properties, same required list, and whatever
// the abridged one states of a property (but its description) the full one states alike, so
// the model is never shown a rule that is not the one applied.
func TestValidationSchemas_AgreeWithTheAdvertisedInput(t *testing.T) {
	t.Parallel()
	withOwn := 0
	for _, op := range Catalog() {
		if len(op.ValidationSchema) == 0 {
			continue
		}
		withOwn++
		in, full := decode(t, op.InputSchema), decode(t, op.ValidationSchema)
		inProps, fullProps := in["properties"].(map[string]any), full["properties"].(map[string]any)
		assert.ElementsMatch(t, keys(fullProps), keys(inProps), op.Name)
		assert.Equal(t, full["required"], in["required"], op.Name)
		assert.Equal(t, false, in["additionalProperties"], op.Name)
		for name, p := range inProps {
			abridged, checked := p.(map[string]any), fullProps[name].(map[string]any)
			assert.Contains(t, abridged, "type", "%s.%s", op.Name, name)
			for kw, v := range abridged {
				if kw != "description" {
					assert.Equal(t, checked[kw], v, "%s.%s: %s as checked", op.Name, name, kw)
				}
			}
		}
		for _, s := range []string{"services", "policy"} {
			if p, ok := inProps[s]; ok {
				d := p.(map[string]any)["description"].(string)
				assert.Contains(t, d, "list-iam-operations", "%s.%s", op.Name, s)
				assert.Contains(t, d, "check-iam-access", "%s.%s", op.Name, s)
			}
		}
	}
	assert.Equal(t, 4, withOwn, "the four tools that take a policy or an assume-role policy")
}

// The policy is still checked whole: a malformed one is refused, naming the field deep inside.
func TestValidate_MalformedPolicyRefusedDeepInside(t *testing.T) {
	t.Parallel()
	const role = "00000000-0000-0000-0000-000000000000"
	badRules := map[string]any{"compute": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "permit", "expression": "true"}}}}
	tests := []struct {
		tool  string
		args  map[string]any
		field string
		has   string
	}{
		{"update-iam-role-policy", map[string]any{"id": role, "default-service-strategy": "deny", "services": badRules},
			"services.compute.rules[0].action", "allow"},
		{"update-iam-organization-policy", map[string]any{"default-service-strategy": "deny", "services": map[string]any{"sos": map[string]any{"type": "maybe"}}},
			"services.sos.type", "rules"},
		{"update-iam-organization-policy", map[string]any{"default-service-strategy": "deny", "services": map[string]any{"sos": map[string]any{"type": "allow", "extra": 1}}},
			"services.sos.extra", "unknown property; allowed: type, rules"},
		{"create-iam-role", map[string]any{"name": "r", "policy": map[string]any{"default-service-strategy": "deny", "services": badRules}},
			"policy.services.compute.rules[0].action", "allow"},
		{"create-iam-role", map[string]any{"name": "r", "policy": map[string]any{"services": map[string]any{}}},
			"policy.default-service-strategy", "required"},
		{"update-iam-role", map[string]any{"id": role, "assume-role-policy": map[string]any{"rules": []any{map[string]any{"action": "allow", "expression": 3}}}},
			"assume-role-policy.rules[0].expression", "string"},
	}
	for _, tt := range tests {
		t.Run(tt.tool+"/"+tt.field, func(t *testing.T) {
			t.Parallel()
			op, ok := Lookup(tt.tool)
			require.True(t, ok)
			err := Validate(op, tt.args)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			i := slices.IndexFunc(ve.Violations, func(v Violation) bool { return v.Field == tt.field })
			require.GreaterOrEqual(t, i, 0, "no violation at %s in:\n%s", tt.field, err)
			assert.Contains(t, ve.Violations[i].Message, tt.has)
			assert.False(t, strings.Contains(err.Error(), "schema"), "worded for the model, not as a schema dump: %s", err)
		})
	}
	op, _ := Lookup("update-iam-role-policy")
	assert.NoError(t, Validate(op, map[string]any{"id": role, "default-service-strategy": "deny",
		"services": map[string]any{"compute": map[string]any{"type": "rules", "rules": []any{map[string]any{"action": "allow", "expression": "operation == 'list-zones'"}}}}}))
}

// encoding/json writes <, > and & as \u003c, \u003e and \u0026: six bytes each on the wire and
// noise to a model reading the raw schema. Model-visible text does without them.
func TestModelVisibleText_NoCharactersJSONEscapes(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		for _, text := range []string{op.Name, op.Description, string(op.InputSchema)} {
			assert.False(t, strings.ContainsAny(text, "<>&"), "%s: %q", op.Name, text)
		}
	}
}
