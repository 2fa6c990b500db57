package sandbox

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithoutSecrets_DropsSecretFieldsAtAnyDepth(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"name":   "kept",
		"secret": "s1", "Value": "s2", "api-key": "s3",
		"nested": map[string]any{"token": "s4", "scope": "public"},
		"list":   []any{map[string]any{"password": "s5", "n": json.Number("1")}},
	}
	assert.Equal(t, map[string]any{
		"name":   "kept",
		"nested": map[string]any{"scope": "public"},
		"list":   []any{map[string]any{"n": json.Number("1")}},
	}, withoutSecrets(in))
	assert.Equal(t, "s1", in["secret"], "the input is not modified")
}
