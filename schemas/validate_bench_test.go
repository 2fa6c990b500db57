package schemas

import (
	"encoding/json"
	"testing"
)

// The hot path: every tool call validates its arguments once. Run before and after a change
// to the validator: go test ./schemas -run '^$' -bench Validate -benchmem

// BenchmarkValidate_CreateIAMRoleInvalid measures a call the model got wrong in several ways.
func BenchmarkValidate_CreateIAMRoleInvalid(b *testing.B) {
	op := mustLookup(b, "create-iam-role")
	a := args(b, `{"name":"","max-session-ttl":0,"permissions":["x","x"],"colour":"red","policy":{"services":{"compute":{"type":"rule"}}}}`)
	for b.Loop() {
		if Validate(op, a) == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkValidate_UpdateIAMRolePolicy validates a policy document of a few services.
func BenchmarkValidate_UpdateIAMRolePolicy(b *testing.B) {
	op := mustLookup(b, "update-iam-role-policy")
	a := args(b, goodArgs["update-iam-role-policy"][0])
	for b.Loop() {
		if err := Validate(op, a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate_CompositeTool is how tools/workflows validates: an Operation built per
// call around the composite tool's own schema.
func BenchmarkValidate_CompositeTool(b *testing.B) {
	op := Operation{Name: "clone-api-key", InputSchema: json.RawMessage(`{"type":"object","properties":{` +
		`"template":{"type":"string","pattern":"^EXO[0-9A-Za-z]+$","description":"key to copy (EXO...)"},` +
		`"name":{"type":"string","minLength":1,"maxLength":191,"description":"new key's name"},` +
		`"add-operations":{"type":"array","items":{"type":"string"}},` +
		`"remove-operations":{"type":"array","items":{"type":"string"}},` +
		`"role-name":{"type":"string","minLength":1,"maxLength":191,"description":"copied role's name; default: name"},` +
		`"dry-run":{"type":"boolean"}},"required":["template","name"],"additionalProperties":false}`)}
	a := args(b, `{"template":"EXOabc123","name":"ci","add-operations":["list-zones"],"dry-run":true}`)
	for b.Loop() {
		if err := Validate(op, a); err != nil {
			b.Fatal(err)
		}
	}
}
