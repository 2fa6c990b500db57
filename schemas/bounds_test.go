package schemas

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A 100,003-character key id was once signed and sent: every id argument is bounded before
// anything is built from it.
func TestValidate_LongIdsAreRefusedWithTheirField(t *testing.T) {
	t.Parallel()
	long := "EXO" + strings.Repeat("a", 100_000)
	tests := []struct {
		tool, field string
		args        map[string]any
	}{
		{"get-api-key", "id", map[string]any{"id": long}},
		{"delete-api-key", "id", map[string]any{"id": long}},
		{"get-iam-role", "id", map[string]any{"id": strings.Repeat("a", 100_000)}},
		{"create-iam-role", "description", map[string]any{"name": "r", "description": strings.Repeat("d", 256)}},
		{"update-iam-role", "description", map[string]any{"id": "00000000-0000-0000-0000-000000000000", "description": strings.Repeat("d", 256)}},
	}
	for _, tt := range tests {
		t.Run(tt.tool+"/"+tt.field, func(t *testing.T) {
			t.Parallel()
			op, ok := Lookup(tt.tool)
			require.True(t, ok)
			err := Validate(op, tt.args)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.NotEmpty(t, ve.Violations)
			assert.Equal(t, tt.field, ve.Violations[0].Field, ve.Error())
			assert.Less(t, len(err.Error()), 1000, "the error does not echo the value")
		})
	}
	op, _ := Lookup("get-api-key")
	assert.NoError(t, Validate(op, map[string]any{"id": "EXO" + strings.Repeat("0", 24)}), "a real key id still passes")
}

// unboundedOK are free-text strings whose length Exoscale itself bounds and which the request
// body limit caps: policy expressions and resources, label values.
var unboundedOK = []string{".expression", ".resources[]", ".labels.*"}

// Every string argument has an upper bound where arguments are checked (the validation schema): maxLength, an enum, or an anchored pattern without
// repetition (a UUID's), unless it is listed in unboundedOK.
func TestInputSchemas_EveryIdStringIsBounded(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		var schema map[string]any
		require.NoError(t, json.Unmarshal(op.validationSchema(), &schema), op.Name)
		walkStrings(schema, "", func(path string, s map[string]any) {
			for _, ok := range unboundedOK {
				if strings.HasSuffix(path, ok) {
					return
				}
			}
			_, hasMax := s["maxLength"]
			_, hasEnum := s["enum"]
			_, hasConst := s["const"]
			pat, _ := s["pattern"].(string)
			fixed := pat != "" && strings.HasPrefix(pat, "^") && strings.HasSuffix(pat, "$") && !strings.ContainsAny(pat, "+*")
			assert.True(t, hasMax || hasEnum || hasConst || fixed, "%s %s: a string without an upper bound (add maxLength)", op.Name, path)
		})
	}
}

// walkStrings calls f for every string-typed schema under s, with its argument path.
func walkStrings(s map[string]any, path string, f func(string, map[string]any)) {
	switch t := s["type"].(type) {
	case string:
		if t == "string" {
			f(path, s)
		}
	case []any:
		for _, x := range t {
			if x == "string" {
				f(path, s)
			}
		}
	}
	if props, ok := s["properties"].(map[string]any); ok {
		for name, p := range props {
			if m, ok := p.(map[string]any); ok {
				walkStrings(m, path+"."+name, f)
			}
		}
	}
	if m, ok := s["additionalProperties"].(map[string]any); ok {
		walkStrings(m, path+".*", f)
	}
	if m, ok := s["items"].(map[string]any); ok {
		walkStrings(m, path+"[]", f)
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		if list, ok := s[k].([]any); ok {
			for _, x := range list {
				if m, ok := x.(map[string]any); ok {
					walkStrings(m, path, f)
				}
			}
		}
	}
}
