package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzValidate feeds arbitrary JSON as arguments to every tool's validator: whatever a model
// sends, Validate must not panic, must answer nil or a *ValidationError, and must keep its
// message bounded (values cut, violations capped).
func FuzzValidate(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzValidate.
	f.Add("create-api-key", []byte(`{"name":"k","role-id":"0b4c9d1e-12ab-4cde-8f00-aabbccddeeff"}`))
	f.Add("update-iam-role-policy", []byte(`{"id":"x","services":{"compute":{"type":"rules","rules":[{"action":1}]}}}`))
	ops := Catalog()
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		op, ok := Lookup(name)
		if !ok {
			op = ops[len(name)%len(ops)]
		}
		// As an MCP library decodes arguments (float64), and with json.Number, which keeps
		// numbers a float64 cannot hold.
		var floats map[string]any
		if json.Unmarshal(raw, &floats) == nil {
			checkValidateResult(t, op, Validate(op, floats))
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var numbers map[string]any
		if dec.Decode(&numbers) == nil {
			checkValidateResult(t, op, Validate(op, numbers))
		}
	})
}

func checkValidateResult(t *testing.T, op Operation, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("%s: not a ValidationError: %v", op.Name, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "invalid arguments for "+op.Name+":\n") {
		t.Fatalf("bad prefix: %q", msg)
	}
	if len(verr.Violations) == 0 || len(verr.Violations) > maxViolations+1 {
		t.Fatalf("%d violations", len(verr.Violations))
	}
	for _, line := range strings.Split(msg, "\n")[1:] {
		if line == "" || utf8.RuneCountInString(line) > 600 {
			t.Fatalf("line empty or unbounded (%d runes): %.200q", utf8.RuneCountInString(line), line)
		}
	}
}
