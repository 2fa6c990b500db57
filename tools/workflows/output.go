package workflows

import "encoding/json"

// Output schemas of the composite tools, so clients can validate structuredContent. They are
// lenient like the catalog's: they describe the top-level fields and require none, because
// one tool answers with a result or, under dry-run, with the requests it would send.
const (
	// dryRunFields are what every composite's dry run answers with.
	dryRunFields = `"dry-run":{"type":"boolean","description":"true: nothing was sent"},
"requests":{"type":"array","items":{"type":"object"},"description":"dry run: each step and its request, in order"}`

	// keyFields are the new key's fields, as create-api-key delivers them.
	keyFields = `"key":{"type":"string","description":"the new key (EXO…)"},
"name":{"type":"string"},
"role-id":{"type":"string"},
"secret-file":{"type":"string","description":"file holding the secret (file delivery)"},
"usage":{"type":"string"},
"secret":{"type":"string","description":"the secret (inline delivery only)"},
"role":{"type":"object","description":"id, name, created: whether this call created it"},
"policy":{"type":"object","description":"the role's policy"},
"notes":{"type":"array","items":{"type":"string"}}`

	restrictedOutput = `{"type":"object","properties":{` + keyFields + `,` + dryRunFields + `}}`

	cloneOutput = `{"type":"object","properties":{` + keyFields + `,
"template":{"type":"object","description":"the template key: key, name, role-id"},` + dryRunFields + `}}`

	rotateOutput = `{"type":"object","properties":{
"new-key":{"type":"object","description":"the new key, as create-api-key delivers it"},
"old-key":{"type":"object","description":"key, name, role-id, state (still active | deleted), secret-files-retired"},
"next":{"type":"object","description":"the call to make once the new key is in use: tool, arguments"},` + dryRunFields + `}}`

	auditOutput = `{"type":"object","properties":{
"summary":{"type":"object","description":"counts of what was read, and of findings per severity"},
"findings":{"type":"array","items":{"type":"object","properties":{
"severity":{"type":"string","enum":["high","medium","low"]},
"finding":{"type":"string"},
"subject":{"type":"object","description":"kind, id, name"},
"why":{"type":"string"},
"fix":{"type":["object","null"],"description":"the tool call that fixes it: tool, arguments; null when no tool can"}}}},
"notes":{"type":"array","items":{"type":"string"}},
"unavailable":{"type":"array","description":"what could not be read"}}}`

	identityOutput = `{"type":"object","properties":{
"key":{"type":"object","description":"id, name of the key this server signs with"},
"role":{"type":"object","description":"id, name of its role"},
"allows":{"type":"object","description":"what the role allows: operations, conditional, of, everything, by-service, can-mint-keys-or-change-policies"},
"endpoint":{"type":"string"},
"zone":{"type":"string"},
"secret-delivery":{"type":"object"},
"confirm":{"type":"string"},
"confirm-fallback":{"type":"string"},
"allow-self-lockout":{"type":"boolean"},
"read-only":{"type":"boolean"},
"toolsets":{},
"tools":{},
"exclude-tools":{},
"tenant":{"type":"string"},
"unknown":{"type":"array","items":{"type":"string"},"description":"what could not be read"}}}`
)

// outputSchemas are the composite tools' output schemas, by tool.
var outputSchemas = map[string]json.RawMessage{
	CreateRestrictedKey: compact(restrictedOutput),
	CloneKey:            compact(cloneOutput),
	RotateKey:           compact(rotateOutput),
	AuditKeys:           compact(auditOutput),
	ServerIdentity:      compact(identityOutput),
}
