package schemas

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	uuid1 = "0b4c9d1e-12ab-4cde-8f00-aabbccddeeff"
	uuid2 = "7f3e2a10-98cd-4b1a-9e2f-001122334455"
)

// args decodes a JSON object the way an MCP library hands arguments over (numbers as float64).
func args(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m), s)
	return m
}

func mustLookup(t testing.TB, name string) Operation {
	t.Helper()
	op, ok := Lookup(name)
	require.True(t, ok, name)
	return op
}

const restrictedPolicy = `"default-service-strategy":"deny","services":{"compute":{"type":"rules","rules":[{"action":"allow","expression":"operation in ['list-zones','list-instances']"}]},"iam":{"type":"allow"}}`

// goodArgs holds valid arguments for every tool; the test requires one per catalog entry.
var goodArgs = map[string][]string{
	"list-api-keys":     {`{}`},
	"get-api-key":       {`{"id":"EXO1a2b3c4d5e6f7a8b9c0d1e2f"}`},
	"create-api-key":    {`{"name":"ci deploy","role-id":"` + uuid1 + `"}`, `{"name":"x","role-id":"` + uuid1 + `","dry-run":true,"allow-duplicate-name":false}`},
	"delete-api-key":    {`{"id":"EXOabc123","dry-run":true}`},
	"list-ai-api-keys":  {`{}`},
	"get-ai-api-key":    {`{"id":"` + uuid1 + `"}`},
	"create-ai-api-key": {`{"name":"chat (prod) 2","scope":"public"}`, `{"name":"a","scope":"` + uuid2 + `","allow-duplicate-name":true}`},
	"update-ai-api-key": {`{"id":"` + uuid1 + `","name":"renamed"}`, `{"id":"` + uuid1 + `","scope":"public","dry-run":false}`},
	"delete-ai-api-key": {`{"id":"` + uuid1 + `"}`},
	"rotate-ai-api-key": {`{"id":"` + uuid1 + `","dry-run":true}`},
	"reveal-ai-api-key": {`{"id":"` + uuid1 + `"}`},
	"list-iam-roles":    {`{}`},
	"get-iam-role":      {`{"id":"` + uuid1 + `"}`},
	"create-iam-role": {
		`{"name":"compute-ro"}`,
		`{"name":"compute-ro","description":"read compute","editable":true,"labels":{"team":"ops"},"max-session-ttl":3600,` +
			`"permissions":["reset-iam-organization-policy"],"policy":{` + restrictedPolicy + `},` +
			`"assume-role-policy":{"rules":[{"action":"allow","expression":"true","resources":["x"]}]},"dry-run":true,"allow-duplicate-name":true}`,
	},
	"update-iam-role":                {`{"id":"` + uuid1 + `","description":"new","labels":{},"max-session-ttl":1,"permissions":[]}`},
	"update-iam-role-policy":         {`{"id":"` + uuid1 + `",` + restrictedPolicy + `}`, `{"id":"` + uuid1 + `","default-service-strategy":"allow","services":{}}`},
	"delete-iam-role":                {`{"id":"` + strings.ToUpper(uuid1) + `"}`},
	"get-iam-organization-policy":    {`{}`},
	"update-iam-organization-policy": {`{` + restrictedPolicy + `,"dry-run":true}`},
	"reset-iam-organization-policy":  {`{}`, `{"dry-run":true}`},
	"list-deployments":               {`{}`, `{"visibility":"private"}`, `{"visibility":"public"}`},
	"get-deployment":                 {`{"id":"` + uuid1 + `"}`},
	"reveal-deployment-api-key":      {`{"id":"` + uuid1 + `"}`},
	"get-operation":                  {`{"id":"` + uuid1 + `"}`},
	"list-zones":                     {`{}`},
	"assume-iam-role":                {`{"id":"` + uuid1 + `","ttl":900}`},
	"list-events":                    {`{}`, `{"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z"}`},
	"list-users":                     {`{}`},
	"get-organization":               {`{}`},
}

func TestValidate_AcceptsGoodArgumentsForEveryTool(t *testing.T) {
	t.Parallel()
	ops := Catalog()
	require.Len(t, goodArgs, len(ops), "one entry per tool")
	for _, op := range ops {
		cases, ok := goodArgs[op.Name]
		require.True(t, ok, op.Name)
		for _, c := range cases {
			assert.NoError(t, Validate(op, args(t, c)), "%s %s", op.Name, c)
		}
	}
}

func TestValidate_NilArgumentsAreAnEmptyObject(t *testing.T) {
	t.Parallel()
	assert.NoError(t, Validate(mustLookup(t, "list-zones"), nil))
	err := Validate(mustLookup(t, "get-iam-role"), nil)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Equal(t, []Violation{{Field: "id", Message: "required, missing (see list-iam-roles)"}}, verr.Violations)
}

func TestValidate_WordsEachKindOfViolation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 63)
	tests := []struct {
		name, tool, args string
		want             []string // expected violation lines, in order
	}{
		{"max length", "create-ai-api-key", `{"name":"` + long + `","scope":"public"}`,
			[]string{"name: expected a string of at most 50 characters, got 63 characters"}},
		{"min length", "create-api-key", `{"name":"","role-id":"` + uuid1 + `"}`,
			[]string{"name: expected a non-empty string, got an empty string"}},
		{"uuid pattern with where to get one", "create-api-key", `{"name":"k","role-id":"abc"}`,
			[]string{`role-id: expected a uuid (see list-iam-roles), got "abc"`}},
		{"scope pattern", "create-ai-api-key", `{"name":"k","scope":"x"}`,
			[]string{`scope: expected "public" or a deployment uuid (see list-deployments), got "x"`}},
		{"IAM key id is not a uuid", "get-api-key", `{"id":"` + uuid1 + `"}`,
			[]string{`id: expected an IAM API key id like EXO1a2b3c (see list-api-keys), got "` + uuid1 + `"`}},
		{"name pattern", "create-ai-api-key", `{"name":"bad;name","scope":"public"}`,
			[]string{`name: expected letters, digits, spaces and _'()- only, starting and ending with a letter or digit, got "bad;name"`}},
		{"enum", "list-deployments", `{"visibility":"all"}`,
			[]string{`visibility: expected one of private, public, got "all"`}},
		{"required", "create-api-key", `{}`,
			[]string{"name: required, missing", "role-id: required, missing (see list-iam-roles)"}},
		{"unknown argument lists allowed ones in schema order", "create-api-key", `{"name":"k","role-id":"` + uuid1 + `","colour":"red"}`,
			[]string{"colour: unknown argument; allowed: name, role-id, dry-run, allow-duplicate-name"}},
		{"unknown argument on a tool without arguments", "list-api-keys", `{"verbose":true}`,
			[]string{"verbose: unknown argument; this tool takes no arguments"}},
		{"type boolean", "delete-iam-role", `{"id":"` + uuid1 + `","dry-run":"yes"}`,
			[]string{`dry-run: expected a boolean (true or false), got "yes"`}},
		{"type string got number", "create-api-key", `{"name":42,"role-id":"` + uuid1 + `"}`,
			[]string{"name: expected a string, got 42"}},
		{"type object got array", "update-iam-organization-policy", `{"default-service-strategy":"deny","services":[]}`,
			[]string{"services: expected an object, got an array"}},
		{"type null", "create-api-key", `{"name":null,"role-id":"` + uuid1 + `"}`,
			[]string{"name: expected a string, got null"}},
		{"integer", "create-iam-role", `{"name":"r","max-session-ttl":1.5}`,
			[]string{"max-session-ttl: expected an integer, got 1.5"}},
		{"exclusive minimum", "create-iam-role", `{"name":"r","max-session-ttl":0}`,
			[]string{"max-session-ttl: expected an integer greater than 0, got 0"}},
		{"unique items", "update-iam-role", `{"id":"` + uuid1 + `","permissions":["reset-iam-organization-policy","reset-iam-organization-policy"]}`,
			[]string{"permissions: expected unique items, got the same value at [0] and [1]"}},
		{"nested enum with dotted path", "update-iam-role-policy", `{"id":"` + uuid1 + `","default-service-strategy":"deny","services":{"compute":{"type":"rule"}}}`,
			[]string{`services.compute.type: expected one of allow, deny, rules, got "rule"`}},
		{"nested unknown property in an array item", "update-iam-organization-policy",
			`{"default-service-strategy":"deny","services":{"compute":{"type":"rules","rules":[{"action":"allow","expr":"true"}]}}}`,
			[]string{"services.compute.rules[0].expr: unknown property; allowed: action, expression, resources"}},
		{"nested in create-iam-role policy", "create-iam-role", `{"name":"r","policy":{"services":{}}}`,
			[]string{"policy.default-service-strategy: required, missing"}},
		{"array item type", "create-iam-role", `{"name":"r","policy":{"default-service-strategy":"deny","services":{"sos":{"type":"rules","rules":[5]}}}}`,
			[]string{"policy.services.sos.rules[0]: expected an object, got 5"}},
		{"labels values are strings", "update-iam-role", `{"id":"` + uuid1 + `","labels":{"team":1}}`,
			[]string{"labels.team: expected a string, got 1"}},
		{"update-ai-api-key needs name or scope", "update-ai-api-key", `{"id":"` + uuid1 + `","dry-run":true}`,
			[]string{"name, scope: at least one required, none given"}},
		{"several violations, sorted by field", "create-ai-api-key", `{"scope":"x","name":"","extra":1}`,
			[]string{
				"extra: unknown argument; allowed: name, scope, dry-run, allow-duplicate-name",
				"name: expected a non-empty string, got an empty string",
				`scope: expected "public" or a deployment uuid (see list-deployments), got "x"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(mustLookup(t, tt.tool), args(t, tt.args))
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Equal(t, tt.tool, verr.Tool)
			lines := strings.Split(err.Error(), "\n")
			assert.Equal(t, "invalid arguments for "+tt.tool+":", lines[0])
			assert.Equal(t, tt.want, lines[1:])
			require.Len(t, verr.Violations, len(tt.want))
			for i, v := range verr.Violations {
				assert.Equal(t, tt.want[i], v.Field+": "+v.Message)
			}
		})
	}
}

func TestValidate_UnknownPropertyNamesUnknownAndAllowed(t *testing.T) {
	t.Parallel()
	err := Validate(mustLookup(t, "create-iam-role"), args(t, `{"name":"r","policy-document":{},"roleName":"x"}`))
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	allowed := "allowed: name, description, editable, labels, max-session-ttl, permissions, policy, assume-role-policy, dry-run, allow-duplicate-name"
	assert.Equal(t, []Violation{
		{Field: "policy-document", Message: "unknown argument; " + allowed},
		{Field: "roleName", Message: "unknown argument; " + allowed},
	}, verr.Violations)
}

func TestValidate_UpdateAIKeyWithEitherFieldPasses(t *testing.T) {
	t.Parallel()
	op := mustLookup(t, "update-ai-api-key")
	for _, a := range []string{`{"id":"` + uuid1 + `","name":"n"}`, `{"id":"` + uuid1 + `","scope":"public"}`, `{"id":"` + uuid1 + `","name":"n","scope":"public"}`} {
		assert.NoError(t, Validate(op, args(t, a)), a)
	}
	err := Validate(op, args(t, `{"id":"nope"}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "name, scope: at least one required")
	assert.Contains(t, err.Error(), `id: expected a uuid (see list-ai-api-keys), got "nope"`)
}

func TestValidate_NeverEchoesAWholeLongValue(t *testing.T) {
	t.Parallel()
	// Something a model might paste by mistake: a long secret-like value, in a value and in a key.
	secret := "s3cr3t-" + strings.Repeat("Zq9", 40)
	tests := map[string]string{
		"value of a pattern field": `{"name":"k","role-id":"` + secret + `"}`,
		"value of a wrong type":    `{"name":"k","role-id":"` + uuid1 + `","dry-run":"` + secret + `"}`,
		"unknown key":              `{"name":"k","role-id":"` + uuid1 + `","` + secret + `":1}`,
		"too long":                 `{"name":"` + strings.Repeat(secret, 3) + `","role-id":"` + uuid1 + `"}`,
	}
	for name, a := range tests {
		err := Validate(mustLookup(t, "create-api-key"), args(t, a))
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), secret, name)
		assert.NotContains(t, err.Error(), secret[:maxShown+1], name)
	}
	err := Validate(mustLookup(t, "create-api-key"), args(t, tests["value of a pattern field"]))
	assert.Contains(t, err.Error(), `got "`+secret[:maxShown]+`…" (`)
}

func TestValidate_BoundsTheNumberOfViolations(t *testing.T) {
	t.Parallel()
	a := map[string]any{}
	for i := range 500 {
		a[strings.Repeat("x", i%7+1)+string(rune('a'+i%26))+strings.Repeat("y", i/26)] = i
	}
	err := Validate(mustLookup(t, "list-zones"), a)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Len(t, verr.Violations, maxViolations+1)
	assert.Regexp(t, `^and \d+ more violations$`, verr.Violations[maxViolations].Message)
}

func TestValidate_GoValuesThatAreNotJSON(t *testing.T) {
	t.Parallel()
	op := mustLookup(t, "create-iam-role")
	// Go integers are fine: they are what a caller building args by hand writes.
	assert.NoError(t, Validate(op, map[string]any{"name": "r", "max-session-ttl": 3600}))
	assert.NoError(t, Validate(op, map[string]any{"name": "r", "max-session-ttl": int64(1), "labels": map[string]string{"a": "b"}}))
	for name, v := range map[string]any{"NaN": math.NaN(), "Inf": math.Inf(1), "channel": make(chan int), "func": func() {}} {
		err := Validate(op, map[string]any{"name": "r", "max-session-ttl": v})
		var verr *ValidationError
		require.ErrorAs(t, err, &verr, name)
		assert.Equal(t, "invalid arguments for create-iam-role:\nexpected JSON values only, got a value JSON cannot represent", err.Error())
	}
}

func TestValidate_OperationOutsideTheCatalogUsesItsOwnSchema(t *testing.T) {
	t.Parallel()
	custom := Operation{Name: "custom", InputSchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","maximum":3,"description":"n"}},"additionalProperties":false}`)}
	assert.NoError(t, Validate(custom, map[string]any{"n": 2}))
	err := Validate(custom, map[string]any{"n": 4})
	require.Error(t, err)
	assert.Equal(t, "invalid arguments for custom:\nn: expected an integer of at most 3, got 4", err.Error())

	// A catalog name with a different schema is not served from the cache.
	fake := mustLookup(t, "list-zones")
	fake.InputSchema = custom.InputSchema
	assert.Error(t, Validate(fake, map[string]any{"n": 4}))
	assert.NoError(t, Validate(mustLookup(t, "list-zones"), nil))
}

func TestValidate_BrokenSchemaIsAnErrorNotAViolation(t *testing.T) {
	t.Parallel()
	for name, schema := range map[string]string{
		"not JSON":       `{"type":`,
		"invalid schema": `{"type":"objekt"}`,
	} {
		err := Validate(Operation{Name: "broken", InputSchema: json.RawMessage(schema)}, map[string]any{})
		require.Error(t, err, name)
		var verr *ValidationError
		assert.False(t, errors.As(err, &verr), name)
		assert.Contains(t, err.Error(), "broken", name)
	}
}

func TestValidate_StartupCompilesNothing(t *testing.T) {
	t.Parallel()
	assert.Zero(t, compilesAtStart, "package initialisation compiled schemas")
}

func TestValidate_CompilesEachSchemaLazilyOnce(t *testing.T) {
	t.Parallel()
	set := newValidatorSet(Catalog())
	assert.Zero(t, set.compiles.Load(), "nothing compiled before the first Validate")

	get := mustLookup(t, "get-iam-role")
	require.NoError(t, set.validate(get, args(t, `{"id":"`+uuid1+`"}`)))
	assert.EqualValues(t, 1, set.compiles.Load())
	require.Error(t, set.validate(get, args(t, `{}`)))
	assert.EqualValues(t, 1, set.compiles.Load(), "cached for the next call")

	require.NoError(t, set.validate(mustLookup(t, "list-zones"), nil))
	assert.EqualValues(t, 2, set.compiles.Load(), "each operation compiled on its own first use")
}

func TestValidate_ConcurrentCallsCompileOnceAndAgree(t *testing.T) {
	t.Parallel()
	set := newValidatorSet(Catalog())
	ops := Catalog()
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan string, workers*len(ops)*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				op := ops[(i+w)%len(ops)]
				for _, a := range goodArgs[op.Name] {
					if err := set.validate(op, args(t, a)); err != nil {
						errs <- op.Name + ": " + err.Error()
					}
				}
				err := set.validate(op, map[string]any{"bogus": true})
				if err == nil || !strings.Contains(err.Error(), "bogus: unknown argument") {
					errs <- op.Name + ": bogus accepted"
				}
				// The shared default set as well.
				if err := Validate(op, args(t, goodArgs[op.Name][0])); err != nil {
					errs <- op.Name + ": " + err.Error()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	assert.EqualValues(t, len(ops), set.compiles.Load(), "one compilation per operation despite concurrency")
}

func TestValidationError_FormatsOneViolationPerLine(t *testing.T) {
	t.Parallel()
	e := &ValidationError{Tool: "t", Violations: []Violation{{Field: "a", Message: "m1"}, {Message: "m2"}}}
	assert.Equal(t, "invalid arguments for t:\na: m1\nm2", e.Error())
}

func TestShow_BoundsAndNamesValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{true, "true"},
		{json.Number("12"), "12"},
		{json.Number("1" + strings.Repeat("0", 100)), "1" + strings.Repeat("0", maxShown-1) + "…"},
		{2.5, "2.5"},
		{"abc", `"abc"`},
		{"line\nbreak", `"line\nbreak"`},
		{strings.Repeat("é", 41), `"` + strings.Repeat("é", 40) + `…" (41 characters)`},
		{map[string]any{"x": 1}, "an object"},
		{[]any{1}, "an array"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, show(tt.in))
	}
}

func TestFieldPath_QuotesAmbiguousKeys(t *testing.T) {
	t.Parallel()
	inst := map[string]any{"services": map[string]any{"a.b": map[string]any{"rules": []any{map[string]any{}}}}}
	assert.Equal(t, `services."a.b".rules[0].x`, fieldPath(inst, []string{"services", "a.b", "rules", "0", "x"}))
	assert.Equal(t, `"new\nline"`, fieldPath(map[string]any{}, []string{"new\nline"}))
	assert.Equal(t, "", fieldPath(inst, nil))
}

// BenchmarkCompile_LargestSchema measures what the first call of create-iam-role pays.
func BenchmarkCompile_LargestSchema(b *testing.B) {
	op := mustLookup(b, "create-iam-role")
	for b.Loop() {
		if _, err := compileSchema(op.Name, op.InputSchema); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate_CreateIAMRole(b *testing.B) {
	op := mustLookup(b, "create-iam-role")
	a := args(b, goodArgs["create-iam-role"][1])
	for b.Loop() {
		if err := Validate(op, a); err != nil {
			b.Fatal(err)
		}
	}
}

// Composite tools build an Operation around their own schema on every call: it is compiled
// once, not per call, and a different schema under the same name is compiled anew.
func TestValidate_SchemaOutsideTheCatalogIsCompiledOnce(t *testing.T) {
	t.Parallel()
	set := newValidatorSet(Catalog())
	op := Operation{Name: "composite", InputSchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}},"additionalProperties":false}`)}
	for range 3 {
		require.NoError(t, set.validate(op, map[string]any{"n": 1.0}))
	}
	assert.EqualValues(t, 1, set.compiles.Load())
	op.InputSchema = json.RawMessage(`{"type":"object","properties":{"n":{"type":"string"}},"additionalProperties":false}`)
	assert.Error(t, set.validate(op, map[string]any{"n": 1.0}), "the new schema applies")
	assert.EqualValues(t, 2, set.compiles.Load())
}
