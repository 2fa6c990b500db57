package workflows

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// conformsToOutput checks a result's structured value against the tool's output schema, and
// that the schema describes each top-level field the value has.
func conformsToOutput(t *testing.T, tool tools.Tool, res tools.Result) {
	t.Helper()
	require.False(t, res.IsError(), res.Text)
	require.NotEmpty(t, tool.OutputSchema, "%s has an output schema", tool.Name)
	var value map[string]any
	require.NoError(t, json.Unmarshal(res.Value, &value))
	err := schemas.Validate(schemas.Operation{Name: tool.Name + " output", InputSchema: tool.OutputSchema}, value)
	assert.NoError(t, err, "%s answered outside its output schema", tool.Name)
	var s struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	require.NoError(t, json.Unmarshal(tool.OutputSchema, &s))
	assert.Equal(t, "object", s.Type)
	assert.Empty(t, s.Required, "lenient: a dry run answers with other fields than a call")
	for field := range value {
		assert.Contains(t, s.Properties, field, "%s: the output schema does not describe %q", tool.Name, field)
	}
}

// TestCompositeTools_AnswerWithinTheirOutputSchemas runs every composite tool, for real and
// as a dry run where it has one, in both secret deliveries, and checks what it answers
// against the output schema it declares.
func TestCompositeTools_AnswerWithinTheirOutputSchemas(t *testing.T) {
	t.Parallel()
	for _, mode := range []tools.DeliveryMode{tools.DeliverInline, tools.DeliverFile} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, tools.Options{Secrets: tools.SecretDelivery{Mode: mode, Dir: filepath.Join(t.TempDir(), "s")}})
			ctx := context.Background()
			run := func(name, args string) map[string]any {
				t.Helper()
				res := v.call(t, ctx, name, args)
				conformsToOutput(t, v.registry[name], res)
				var m map[string]any
				require.NoError(t, json.Unmarshal(res.Value, &m))
				return m
			}
			run(CreateRestrictedKey, `{"name":"k1","operations":["list-zones"],"dry-run":true}`)
			key := run(CreateRestrictedKey, `{"name":"k1","operations":["list-zones"]}`)["key"].(string)
			run(CloneKey, `{"template":"`+key+`","name":"k2","dry-run":true}`)
			run(CloneKey, `{"template":"`+key+`","name":"k2"}`)
			run(CloneKey, `{"template":"`+key+`","name":"k3","add-operations":["list-api-keys"]}`)
			run(RotateKey, `{"id":"`+key+`","dry-run":true}`)
			run(RotateKey, `{"id":"`+key+`"}`)
			run(AuditKeys, `{}`)
			run(ServerIdentity, `{}`)
		})
	}
}
