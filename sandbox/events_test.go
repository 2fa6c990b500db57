package sandbox

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestEventURI_LeavesOutSecretQueryParams(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"/v2/api-key?limit=5":                    "/v2/api-key?limit=5",
		"/v2/api-key?Secret=s1&limit=5":          "/v2/api-key?limit=5",
		"/v2/api-key?token=s2":                   "/v2/api-key",
		"/v2/iam-role/x%2Fy?password=s3&a=b&a=c": "/v2/iam-role/x%2Fy?a=b&a=c",
	} {
		u, err := url.ParseRequestURI(raw)
		require.NoError(t, err)
		assert.Equal(t, want, eventURI(u), raw)
	}
}
