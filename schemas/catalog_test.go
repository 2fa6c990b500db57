package schemas

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// compilesAtStart is the number of schema compilations done by package initialisation, read
// before any test runs: start-up must compile nothing.
var compilesAtStart int64

func TestMain(m *testing.M) {
	compilesAtStart = compileTotal.Load()
	os.Exit(m.Run())
}

type wantOp struct {
	name, toolset, method, path string
	access                      Access
	pathParams, queryParams     []string
	local, secrets              []string
	async, unsigned             bool
}

var (
	noArgs  []string
	idArg   = []string{"id"}
	dry     = []string{"dry-run"}
	creates = []string{"dry-run", "allow-duplicate-name"}
)

// wantCatalog is the list of tools the server promises, with each operation's HTTP method and
// path in Exoscale API v2, in catalog order: written out by hand so a catalog edit shows here.
var wantCatalog = []wantOp{
	{"list-api-keys", "api-keys", "GET", "/api-key", Read, noArgs, noArgs, noArgs, noArgs, false, false},
	{"get-api-key", "api-keys", "GET", "/api-key/{id}", Read, idArg, noArgs, noArgs, noArgs, false, false},
	{"create-api-key", "api-keys", "POST", "/api-key", Create, noArgs, noArgs, creates, []string{"secret"}, false, false},
	{"delete-api-key", "api-keys", "DELETE", "/api-key/{id}", Delete, idArg, noArgs, dry, noArgs, true, false},

	{"list-ai-api-keys", "ai-api-keys", "GET", "/ai/api-key", Read, noArgs, noArgs, noArgs, noArgs, false, false},
	{"get-ai-api-key", "ai-api-keys", "GET", "/ai/api-key/{id}", Read, idArg, noArgs, noArgs, noArgs, false, false},
	{"create-ai-api-key", "ai-api-keys", "POST", "/ai/api-key", Create, noArgs, noArgs, creates, []string{"value"}, false, false},
	{"update-ai-api-key", "ai-api-keys", "PATCH", "/ai/api-key/{id}", Update, idArg, noArgs, dry, noArgs, false, false},
	{"delete-ai-api-key", "ai-api-keys", "DELETE", "/ai/api-key/{id}", Delete, idArg, noArgs, dry, noArgs, true, false},
	{"rotate-ai-api-key", "ai-api-keys", "POST", "/ai/api-key/{id}/rotate", Rotate, idArg, noArgs, dry, []string{"value"}, false, false},
	{"reveal-ai-api-key", "ai-api-keys", "GET", "/ai/api-key/{id}/reveal", Reveal, idArg, noArgs, noArgs, []string{"value"}, false, false},

	{"list-iam-roles", "iam-roles", "GET", "/iam-role", Read, noArgs, noArgs, noArgs, noArgs, false, false},
	{"get-iam-role", "iam-roles", "GET", "/iam-role/{id}", Read, idArg, noArgs, noArgs, noArgs, false, false},
	{"create-iam-role", "iam-roles", "POST", "/iam-role", Create, noArgs, noArgs, creates, noArgs, true, false},
	{"update-iam-role", "iam-roles", "PUT", "/iam-role/{id}", Update, idArg, noArgs, dry, noArgs, true, false},
	{"update-iam-role-policy", "iam-roles", "PUT", "/iam-role/{id}:policy", Replace, idArg, noArgs, dry, noArgs, true, false},
	{"delete-iam-role", "iam-roles", "DELETE", "/iam-role/{id}", Delete, idArg, noArgs, dry, noArgs, true, false},

	{"get-iam-organization-policy", "iam-org-policy", "GET", "/iam-organization-policy", Read, noArgs, noArgs, noArgs, noArgs, false, false},
	{"update-iam-organization-policy", "iam-org-policy", "PUT", "/iam-organization-policy", Replace, noArgs, noArgs, dry, noArgs, true, false},
	{"reset-iam-organization-policy", "iam-org-policy", "POST", "/iam-organization-policy:reset", Reset, noArgs, noArgs, dry, noArgs, true, false},

	{"list-deployments", "ai-deployments", "GET", "/ai/deployment", Read, noArgs, []string{"visibility"}, noArgs, noArgs, false, false},
	{"get-deployment", "ai-deployments", "GET", "/ai/deployment/{id}", Read, idArg, noArgs, noArgs, noArgs, false, false},
	{"reveal-deployment-api-key", "ai-deployments", "GET", "/ai/deployment/{id}/api-key", Reveal, idArg, noArgs, noArgs, []string{"api-key"}, false, false},

	{"get-operation", "operations", "GET", "/operation/{id}", Read, idArg, noArgs, noArgs, noArgs, false, false},
	{"list-zones", "operations", "GET", "/zone", Read, noArgs, noArgs, noArgs, noArgs, false, true},

	{"assume-iam-role", "iam-roles", "POST", "/iam-role/{id}/assume", Create, idArg, noArgs, dry, []string{"secret"}, false, false},
	{"list-events", "iam-audit", "GET", "/event", Read, noArgs, []string{"from", "to"}, noArgs, noArgs, false, false},
	{"list-users", "iam-audit", "GET", "/user", Read, noArgs, noArgs, noArgs, noArgs, false, false},
	{"get-organization", "iam-audit", "GET", "/organization", Read, noArgs, noArgs, noArgs, noArgs, false, false},
}

func TestCatalog_HoldsExactlyThePromisedOperations(t *testing.T) {
	t.Parallel()
	ops := Catalog()
	var got, want []string
	for _, op := range ops {
		got = append(got, op.Name)
	}
	for _, w := range wantCatalog {
		want = append(want, w.name)
	}
	sort.Strings(got)
	sort.Strings(want)
	require.Len(t, want, 29)
	assert.Equal(t, want, got)
}

func TestCatalog_EntryMatchesAPIFacts(t *testing.T) {
	t.Parallel()
	for _, w := range wantCatalog {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			op, ok := Lookup(w.name)
			require.True(t, ok)
			assert.Equal(t, w.name, op.Name)
			assert.Equal(t, w.toolset, op.Toolset)
			assert.Equal(t, w.method, op.Method)
			assert.Equal(t, w.path, op.Path)
			assert.Equal(t, w.access, op.Access)
			assert.ElementsMatch(t, w.pathParams, op.PathParams, "path params")
			assert.ElementsMatch(t, w.queryParams, op.QueryParams, "query params")
			assert.ElementsMatch(t, w.local, op.LocalParams, "local params")
			assert.ElementsMatch(t, w.secrets, op.Secrets, "secrets")
			assert.Equal(t, w.async, op.Async, "async")
			assert.Equal(t, w.unsigned, op.Unsigned, "unsigned")
			assert.NotEmpty(t, op.Title)
			assert.NotEmpty(t, op.Description)
			for _, p := range op.PathParams {
				assert.Contains(t, op.Path, "{"+p+"}", "path param appears in the path")
			}
		})
	}
}

func TestCatalog_OrderedByToolsetThenName(t *testing.T) {
	t.Parallel()
	ops := Catalog()
	for i := 1; i < len(ops); i++ {
		a, b := ops[i-1], ops[i]
		ta, tb := slices.Index(Toolsets, a.Toolset), slices.Index(Toolsets, b.Toolset)
		require.GreaterOrEqual(t, ta, 0, a.Name)
		assert.True(t, ta < tb || (ta == tb && a.Name < b.Name), "%s before %s", a.Name, b.Name)
	}
	assert.Equal(t, Catalog(), Catalog(), "stable order")
}

func TestToolsets_EachHoldsATool(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"api-keys", "ai-api-keys", "iam-roles", "iam-org-policy", "ai-deployments", "operations", "iam-audit"}, Toolsets)
	used := map[string]int{}
	for _, op := range Catalog() {
		used[op.Toolset]++
	}
	for _, ts := range Toolsets {
		assert.Positive(t, used[ts], ts)
	}
	assert.Len(t, used, len(Toolsets))
}

func TestLookup_UnknownName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "create-key", "LIST-API-KEYS", "list-api-keys "} {
		_, ok := Lookup(name)
		assert.False(t, ok, "%q", name)
	}
}

func TestCatalog_ReturnsCopiesCallersCannotCorrupt(t *testing.T) {
	t.Parallel()
	ops := Catalog()
	ops[0].Name = "changed"
	ops[0].LocalParams = append(ops[0].LocalParams[:0], "x")
	op, ok := Lookup("delete-api-key")
	require.True(t, ok)
	op.PathParams[0] = "changed"
	op.InputSchema[0] = 'X'
	op.Secrets = append(op.Secrets, "x")

	again, ok := Lookup("delete-api-key")
	require.True(t, ok)
	assert.Equal(t, []string{"id"}, again.PathParams)
	assert.Equal(t, byte('{'), again.InputSchema[0])
	assert.Empty(t, again.Secrets)
	assert.NotEqual(t, "changed", Catalog()[0].Name)
	get, _ := Lookup("get-api-key")
	assert.Equal(t, []string{"id"}, get.PathParams, "shared param slices untouched")
}

func TestAnnotations_DerivedFromHTTPContract(t *testing.T) {
	t.Parallel()
	type hints struct{ readOnly, idempotent, destructive bool }
	want := map[string]hints{
		"list-api-keys":                  {true, true, false},
		"get-api-key":                    {true, true, false},
		"create-api-key":                 {false, false, false},
		"delete-api-key":                 {false, true, true},
		"list-ai-api-keys":               {true, true, false},
		"get-ai-api-key":                 {true, true, false},
		"create-ai-api-key":              {false, false, false},
		"update-ai-api-key":              {false, false, false}, // PATCH: not idempotent by HTTP contract
		"delete-ai-api-key":              {false, true, true},
		"rotate-ai-api-key":              {false, false, true},
		"reveal-ai-api-key":              {true, true, false},
		"list-iam-roles":                 {true, true, false},
		"get-iam-role":                   {true, true, false},
		"create-iam-role":                {false, false, false},
		"update-iam-role":                {false, true, false},
		"update-iam-role-policy":         {false, true, true},
		"delete-iam-role":                {false, true, true},
		"get-iam-organization-policy":    {true, true, false},
		"update-iam-organization-policy": {false, true, true},
		"reset-iam-organization-policy":  {false, false, true},
		"list-deployments":               {true, true, false},
		"get-deployment":                 {true, true, false},
		"reveal-deployment-api-key":      {true, true, false},
		"get-operation":                  {true, true, false},
		"list-zones":                     {true, true, false},
		"assume-iam-role":                {false, false, false},
		"list-events":                    {true, true, false},
		"list-users":                     {true, true, false},
		"get-organization":               {true, true, false},
	}
	ops := Catalog()
	require.Len(t, want, len(ops))
	for _, op := range ops {
		w, ok := want[op.Name]
		require.True(t, ok, op.Name)
		assert.Equal(t, w, hints{op.ReadOnly(), op.Idempotent(), op.Destructive()}, op.Name)
		// The rules themselves, independent of the table above.
		assert.Equal(t, op.Method == "GET", op.ReadOnly(), op.Name)
		if op.Method == "POST" {
			assert.False(t, op.Idempotent(), "%s: POST is never idempotent", op.Name)
		}
		if op.Access == Delete {
			assert.Equal(t, "DELETE", op.Method, op.Name)
		}
		if op.ReadOnly() {
			assert.False(t, op.Destructive(), op.Name)
			assert.Contains(t, []Access{Read, Reveal}, op.Access, op.Name)
		}
	}
}

func TestAnnotations_MethodRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method                            string
		access                            Access
		readOnly, idempotent, destructive bool
	}{
		{"GET", Read, true, true, false},
		{"GET", Reveal, true, true, false},
		{"POST", Create, false, false, false},
		{"POST", Rotate, false, false, true},
		{"POST", Reset, false, false, true},
		{"PUT", Update, false, true, false},
		{"PUT", Replace, false, true, true},
		{"PATCH", Update, false, false, false},
		{"DELETE", Delete, false, true, true},
	}
	for _, tt := range tests {
		op := Operation{Method: tt.method, Access: tt.access}
		name := tt.method + " " + string(tt.access)
		assert.Equal(t, tt.readOnly, op.ReadOnly(), name)
		assert.Equal(t, tt.idempotent, op.Idempotent(), name)
		assert.Equal(t, tt.destructive, op.Destructive(), name)
	}
}

func TestSecrets_OnlyOnSecretBearingResultsAndInOutputSchema(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		if len(op.Secrets) > 0 {
			assert.Contains(t, []Access{Create, Rotate, Reveal}, op.Access, op.Name)
		}
		if op.Access == Reveal || op.Access == Rotate {
			assert.NotEmpty(t, op.Secrets, op.Name)
		}
		out := decode(t, op.OutputSchema)
		props, _ := out["properties"].(map[string]any)
		required, _ := out["required"].([]any)
		for _, s := range op.Secrets {
			assert.Contains(t, props, s, "%s: secret field %s described in the output schema", op.Name, s)
			assert.NotContains(t, required, s, "%s: secret %s must not be required (it may be delivered elsewhere)", op.Name, s)
		}
	}
}

func TestLocalParams_DryRunOnEveryChangeAllowDuplicateOnCreates(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		assert.Equal(t, !op.ReadOnly(), slices.Contains(op.LocalParams, ParamDryRun), op.Name)
		// Only creates of a named object have a duplicate-name check to lift (assume-iam-role
		// mints credentials, not a named object).
		assert.Equal(t, op.Access == Create && op.Duplicate != nil, slices.Contains(op.LocalParams, ParamAllowDuplicateName), op.Name)
	}
}

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func TestInputSchemas_ShapeForMCP(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		t.Run(op.Name, func(t *testing.T) {
			t.Parallel()
			s := decode(t, op.InputSchema)
			assert.Equal(t, "object", s["type"])
			assert.Equal(t, false, s["additionalProperties"])
			for _, kw := range []string{"oneOf", "anyOf", "allOf", "not", "if", "$ref", "$schema"} {
				assert.NotContains(t, s, kw, "no top-level %s", kw)
			}
			assert.NotContains(t, string(op.InputSchema), `"$schema"`, "consistently without $schema")
			assert.NotContains(t, string(op.InputSchema), `"format"`, "formats are not asserted: use patterns")
			props, ok := s["properties"].(map[string]any)
			require.True(t, ok, "properties object present, even when empty")

			var required []string
			for _, r := range asSlice(s["required"]) {
				required = append(required, r.(string))
			}
			for _, p := range op.PathParams {
				assert.Contains(t, props, p)
				assert.Contains(t, required, p, "path params are required")
			}
			for _, p := range slices.Concat(op.QueryParams, op.LocalParams) {
				assert.Contains(t, props, p)
				assert.NotContains(t, required, p, "query and local params are optional")
			}
			for _, p := range op.LocalParams {
				assert.Equal(t, "boolean", props[p].(map[string]any)["type"], p)
			}
			for _, r := range required {
				assert.Contains(t, props, r, "required %s is a property", r)
			}
			// Every argument is described where the errors quote it: the schema Validate applies.
			// An abridged advertised schema (tools that take a policy, kept within the token
			// budget) may leave out what a property's name, type and enum already say, but
			// describes every object, whose shape it no longer spells out.
			assertDescribed(t, "", decode(t, op.validationSchema()), true)
			if len(op.ValidationSchema) == 0 {
				assertDescribed(t, "", s, true)
				return
			}
			for name, p := range props {
				ps := p.(map[string]any)
				if ps["type"] == "object" {
					assert.NotEmpty(t, ps["description"], "%s: an abridged object says its shape", name)
				}
			}
		})
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// assertDescribed checks that every property, recursively, has a description, and that
// nested objects with properties are closed like the top level.
func assertDescribed(t *testing.T, path string, schema map[string]any, top bool) {
	t.Helper()
	props, _ := schema["properties"].(map[string]any)
	if !top && len(props) > 0 {
		assert.Equal(t, false, schema["additionalProperties"], "%s: nested object closed", path)
	}
	for name, p := range props {
		ps := p.(map[string]any)
		d, _ := ps["description"].(string)
		assert.NotEmpty(t, strings.TrimSpace(d), "%s%s has a description", path, name)
		assertDescribed(t, path+name+".", ps, false)
		if items, ok := ps["items"].(map[string]any); ok {
			assertDescribed(t, path+name+"[].", items, false)
		}
		if ap, ok := ps["additionalProperties"].(map[string]any); ok {
			assertDescribed(t, path+name+".*.", ap, false)
		}
	}
}

func TestInputSchemas_CompileAsDraft2020(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		_, err := compileSchema(op.Name, op.InputSchema)
		assert.NoError(t, err, op.Name)
	}
}

func TestInputSchemas_UUIDsAndKeyIDsArePatterns(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		props := decode(t, op.InputSchema)["properties"].(map[string]any)
		id, ok := props["id"].(map[string]any)
		if !ok {
			continue
		}
		want := patternUUID
		if op.Toolset == "api-keys" {
			want = patternAPIKey // IAM API key ids are EXO strings, not uuids
		}
		assert.Equal(t, want, id["pattern"], op.Name)
	}
	for _, name := range []string{"create-ai-api-key", "update-ai-api-key"} {
		op, _ := Lookup(name)
		props := decode(t, op.InputSchema)["properties"].(map[string]any)
		assert.Equal(t, patternScope, props["scope"].(map[string]any)["pattern"], name)
		assert.Equal(t, patternAIName, props["name"].(map[string]any)["pattern"], name)
	}
	op, _ := Lookup("create-api-key")
	assert.Equal(t, patternUUID, decode(t, op.InputSchema)["properties"].(map[string]any)["role-id"].(map[string]any)["pattern"])
}

func TestPatterns_MatchWhatTheyClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, value string
		ok             bool
	}{
		{patternUUID, "0b4c9d1e-12ab-4cde-8f00-aabbccddeeff", true},
		{patternUUID, "0B4C9D1E-12AB-4CDE-8F00-AABBCCDDEEFF", true},
		{patternUUID, "0b4c9d1e12ab4cde8f00aabbccddeeff", false},
		{patternUUID, "0b4c9d1e-12ab-4cde-8f00-aabbccddeeff0", false},
		{patternUUID, "x0b4c9d1e-12ab-4cde-8f00-aabbccddeeff", false},
		{patternScope, "public", true},
		{patternScope, "0b4c9d1e-12ab-4cde-8f00-aabbccddeeff", true},
		{patternScope, "publicx", false},
		{patternScope, "private", false},
		{patternAPIKey, "EXO1a2b3c4d5e6f7a8b9c0d1e2f", true},
		{patternAPIKey, "EXO", false},
		{patternAPIKey, "exo123", false},
		{patternAPIKey, "0b4c9d1e-12ab-4cde-8f00-aabbccddeeff", false},
		{patternAIName, "ci (prod)_key-2", true},
		{patternAIName, "a", true},
		{patternAIName, " leading", false},
		{patternAIName, "trailing-", false},
		{patternAIName, "semi;colon", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.ok, regexp.MustCompile(tt.pattern).MatchString(tt.value), "%s ~ %q", tt.pattern, tt.value)
	}
}

func TestInputSchemas_EveryPatternHasWords(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`"pattern":("(?:[^"\\]|\\.)*")`)
	for _, op := range Catalog() {
		for _, m := range re.FindAllStringSubmatch(string(op.InputSchema), -1) {
			var p string
			require.NoError(t, json.Unmarshal([]byte(m[1]), &p))
			assert.Contains(t, patternWords, p, "%s: pattern %s needs words for error messages", op.Name, p)
		}
	}
}

// The iam-policy appears in three tools; they must check it identically (their full
// validation schemas) and describe it identically to the model.
func TestInputSchemas_IAMPolicyIdenticalInItsThreeTools(t *testing.T) {
	t.Parallel()
	advertised := func(name string) map[string]any {
		op, ok := Lookup(name)
		require.True(t, ok)
		return decode(t, op.InputSchema)["properties"].(map[string]any)
	}
	assert.Equal(t, advertised("update-iam-role-policy")["services"], advertised("update-iam-organization-policy")["services"])
	assert.Equal(t, advertised("create-iam-role")["assume-role-policy"], advertised("update-iam-role")["assume-role-policy"])

	prop := func(name string, path ...string) string {
		op, ok := Lookup(name)
		require.True(t, ok)
		var cur any = decode(t, op.validationSchema())
		for _, p := range path {
			cur = cur.(map[string]any)[p]
		}
		b, err := json.Marshal(cur)
		require.NoError(t, err)
		return string(b)
	}
	for _, field := range []string{"default-service-strategy", "services"} {
		ref := prop("create-iam-role", "properties", "policy", "properties", field)
		assert.JSONEq(t, ref, prop("update-iam-role-policy", "properties", field), field)
		assert.JSONEq(t, ref, prop("update-iam-organization-policy", "properties", field), field)
	}
	policy := decode(t, json.RawMessage(prop("create-iam-role", "properties", "policy")))
	assert.ElementsMatch(t, []any{"default-service-strategy", "services"}, policy["required"])
	for _, name := range []string{"update-iam-role-policy", "update-iam-organization-policy"} {
		op, _ := Lookup(name)
		assert.Subset(t, decode(t, op.validationSchema())["required"], []any{"default-service-strategy", "services"}, name)
	}
	// Assume-role rules are the same rule shape as a service's rules.
	rule := prop("create-iam-role", "properties", "policy", "properties", "services", "additionalProperties", "properties", "rules", "items")
	assert.JSONEq(t, rule, prop("create-iam-role", "properties", "assume-role-policy", "properties", "rules", "items"))
	assert.JSONEq(t, rule, prop("update-iam-role", "properties", "assume-role-policy", "properties", "rules", "items"))
}

func TestOutputSchemas_LenientObjects(t *testing.T) {
	t.Parallel()
	for _, op := range Catalog() {
		s := decode(t, op.OutputSchema)
		assert.Equal(t, "object", s["type"], op.Name)
		assert.NotContains(t, string(op.OutputSchema), `"additionalProperties":false`, "%s: the API may add fields", op.Name)
		assert.NotContains(t, string(op.OutputSchema), `"$schema"`, op.Name)
		_, err := compileSchema(op.Name+"-output", op.OutputSchema)
		assert.NoError(t, err, op.Name)
	}
}

func TestOutputSchemas_ListsWrapArraysAsTheAPIDoes(t *testing.T) {
	t.Parallel()
	wrap := map[string]string{
		"list-api-keys":    "api-keys",
		"list-ai-api-keys": "ai-api-keys",
		"list-iam-roles":   "iam-roles",
		"list-deployments": "deployments",
		"list-zones":       "zones",
	}
	for name, key := range wrap {
		op, ok := Lookup(name)
		require.True(t, ok)
		props := decode(t, op.OutputSchema)["properties"].(map[string]any)
		require.Contains(t, props, key, name)
		assert.Equal(t, "array", props[key].(map[string]any)["type"], name)
	}
}

func TestOutputSchemas_AsyncReturnOperationExceptCreateRoleReturnsRole(t *testing.T) {
	t.Parallel()
	operation, _ := Lookup("get-operation")
	role, _ := Lookup("get-iam-role")
	for _, op := range Catalog() {
		if !op.Async {
			continue
		}
		want := operation.OutputSchema
		if op.Name == "create-iam-role" {
			want = role.OutputSchema
		}
		assert.JSONEq(t, string(want), string(op.OutputSchema), op.Name)
	}
	props := decode(t, role.OutputSchema)["properties"].(map[string]any)
	assert.Contains(t, props, "id", "the model needs the new role's id")
	assert.Contains(t, props, "policy")
}

// Responses in the shapes Exoscale sends conform to the output schemas.
func TestOutputSchemas_AcceptDocumentedResponses(t *testing.T) {
	t.Parallel()
	const u = "0b4c9d1e-12ab-4cde-8f00-aabbccddeeff"
	op := `{"id":"` + u + `","state":"success","reference":{"id":"` + u + `","link":"/v2/iam-role/` + u + `","command":"get-iam-role"}}`
	role := `{"id":"` + u + `","name":"ro","description":"d","editable":true,"labels":{"a":"b"},"max-session-ttl":3600,"permissions":["reset-iam-organization-policy"],` +
		`"policy":{"default-service-strategy":"deny","services":{"compute":{"type":"rules","rules":[{"action":"allow","expression":"operation in ['list-zones']"}]}}},"assume-role-policy":{"rules":[]}}`
	meta := `{"id":"` + u + `","org-uuid":"` + u + `","name":"k","scope":"public","created-at":"2026-03-25T10:00:00Z","updated-at":"2026-03-25T10:00:00Z"}`
	dep := `{"id":"` + u + `","name":"d","state":"ready","deployment-url":"https://x","model":{"id":"` + u + `","name":"m"},"visibility":"private","gpu-count":1,"replicas":1,"new-field":{"x":1}}`
	responses := map[string]string{
		"list-api-keys":                  `{"api-keys":[{"key":"EXO1","name":"n","role-id":"` + u + `"}]}`,
		"get-api-key":                    `{"key":"EXO1","name":"n","role-id":"` + u + `"}`,
		"create-api-key":                 `{"key":"EXO1","name":"n","role-id":"` + u + `","secret":"s"}`,
		"delete-api-key":                 op,
		"list-ai-api-keys":               `{"ai-api-keys":[` + meta + `]}`,
		"get-ai-api-key":                 meta,
		"create-ai-api-key":              strings.TrimSuffix(meta, "}") + `,"value":"v"}`,
		"update-ai-api-key":              meta,
		"delete-ai-api-key":              `{}`,
		"rotate-ai-api-key":              `{"value":"v"}`,
		"reveal-ai-api-key":              `{"value":"v"}`,
		"list-iam-roles":                 `{"iam-roles":[` + role + `]}`,
		"get-iam-role":                   role,
		"create-iam-role":                role,
		"update-iam-role":                op,
		"update-iam-role-policy":         op,
		"delete-iam-role":                op,
		"get-iam-organization-policy":    `{"default-service-strategy":"allow","services":{}}`,
		"update-iam-organization-policy": op,
		"reset-iam-organization-policy":  op,
		"list-deployments":               `{"deployments":[` + dep + `]}`,
		"get-deployment":                 dep,
		"reveal-deployment-api-key":      `{"api-key":"k"}`,
		"get-operation":                  op,
		"list-zones":                     `{"zones":[{"name":"ch-gva-2","api-endpoint":"https://api-ch-gva-2.exoscale.com/v2","sos-endpoint":"https://sos-ch-gva-2.exo.io"}]}`,
		"assume-iam-role":                `{"key":"EXOabc","name":"assumed-r","org-id":"o","role-id":"r","secret":"s","expires-at":"2026-03-25T10:15:00Z"}`,
		"list-events":                    `{"events":[{"timestamp":"2026-03-25T10:00:00.000Z","handler":"create-api-key","status":200,"iam-api-key":{"key":"EXOabc","name":"k"},"body-params":{"name":"k"}}]}`,
		"list-users":                     `{"users":[{"id":"u","email":"a@example.com","role":{"id":"r","name":"admin"},"sso":false,"two-factor-authentication":true,"pending":false}]}`,
		"get-organization":               `{"id":"o","name":"Org","address":"a","postcode":"1","city":"c","country":"CH","currency":"CHF"}`,
	}
	require.Len(t, responses, 29)
	for _, o := range Catalog() {
		body, ok := responses[o.Name]
		require.True(t, ok, o.Name)
		cs, err := compileSchema(o.Name+"-output", o.OutputSchema)
		require.NoError(t, err)
		var v any
		require.NoError(t, json.Unmarshal([]byte(body), &v))
		assert.NoError(t, cs.schema.Validate(v), o.Name)
		// A result whose secret was moved out by the server still conforms.
		if m, ok := v.(map[string]any); ok && len(o.Secrets) > 0 {
			for _, s := range o.Secrets {
				delete(m, s)
			}
			m["secret-file"] = "/home/u/.local/state/exoscale-keys-mcp/secrets/x.env"
			assert.NoError(t, cs.schema.Validate(m), "%s without its secret", o.Name)
		}
	}
}

func TestDescriptions_PointAtRealToolsAndWarnOfIrreversibleEffects(t *testing.T) {
	t.Parallel()
	see := regexp.MustCompile(`\b(?:see|with|first|then|use) ([a-z]+(?:-[a-z]+)+)`)
	for _, op := range Catalog() {
		texts := []string{op.Description, string(op.InputSchema)}
		for _, text := range texts {
			for _, m := range see.FindAllStringSubmatch(text, -1) {
				if _, ok := Lookup(m[1]); !ok && !strings.HasPrefix(m[1], "list-instances") {
					t.Errorf("%s: refers to %q, which is not a tool", op.Name, m[1])
				}
			}
		}
		assert.LessOrEqual(t, len(op.Description), 200, "%s: description kept short", op.Name)
		if op.Destructive() {
			assert.Regexp(t, `Irreversible|stops working|Replace|discarding`, op.Description, "%s says what is lost", op.Name)
		}
	}
	create, _ := Lookup("create-api-key")
	assert.Contains(t, create.Description, "once", "the IAM secret is shown once")
	assert.Contains(t, create.Description, "create-iam-role", "workflow hint")
	role, _ := Lookup("create-iam-role")
	assert.Contains(t, role.Description, "create-api-key", "workflow hint")
	upd, _ := Lookup("update-ai-api-key")
	assert.Contains(t, upd.Description, "name, scope or both")
}

func TestSchemaFiles_OneFilePerCatalogEntryAndNoOrphans(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(operationFiles, "operations")
	require.NoError(t, err)
	var files []string
	for _, e := range entries {
		files = append(files, strings.TrimSuffix(e.Name(), ".json"))
	}
	var names []string
	for _, op := range table {
		names = append(names, op.Name)
	}
	assert.ElementsMatch(t, names, files)
	for _, e := range entries {
		raw, err := operationFiles.ReadFile("operations/" + e.Name())
		require.NoError(t, err)
		var f map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &f), e.Name())
		if _, ok := f["validate"]; ok { // the full input shape, where "input" abridges it
			assert.ElementsMatch(t, []string{"input", "validate", "output"}, keys(f), e.Name())
			continue
		}
		assert.ElementsMatch(t, []string{"input", "output"}, keys(f), e.Name())
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestBuildCatalog_ReportsBrokenEntries(t *testing.T) {
	t.Parallel()
	_, err := buildCatalog([]Operation{{Name: "no-such-operation"}}, operationFiles)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no-such-operation")

	dup := []Operation{table[0], table[0]}
	_, err = buildCatalog(dup, operationFiles)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("%s listed twice", table[0].Name))
}

func TestBodyParams_WhatIsLeftForTheRequestBody(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"create-api-key":                 {"name", "role-id"},
		"create-ai-api-key":              {"name", "scope"},
		"update-ai-api-key":              {"name", "scope"},
		"create-iam-role":                {"name", "description", "editable", "labels", "max-session-ttl", "permissions", "policy", "assume-role-policy"},
		"update-iam-role":                {"description", "labels", "max-session-ttl", "permissions", "assume-role-policy"},
		"update-iam-role-policy":         {"default-service-strategy", "services"},
		"update-iam-organization-policy": {"default-service-strategy", "services"},
		"assume-iam-role":                {"ttl"},
	}
	for _, op := range Catalog() {
		assert.Equal(t, want[op.Name], op.BodyParams(), op.Name)
		if len(op.BodyParams()) > 0 {
			assert.Contains(t, []string{"POST", "PUT", "PATCH"}, op.Method, op.Name)
		}
	}
}

func TestLookup_ResultDoesNotShareBehaviour(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"create-api-key", "delete-iam-role", "update-iam-role-policy", "reveal-deployment-api-key"} {
		a, ok := Lookup(name)
		require.True(t, ok, name)
		if a.Duplicate != nil {
			a.Duplicate.List = "changed"
		}
		if a.InUse != nil {
			a.InUse.List = "changed"
		}
		if a.Policy != nil {
			a.Policy.Field = "changed"
		}
		if a.SecretFile != nil {
			a.SecretFile.Vars[0].Name = "CHANGED"
			if a.SecretFile.BaseURL != nil {
				a.SecretFile.BaseURL.Var = "CHANGED"
			}
		}
		b, _ := Lookup(name)
		if b.Duplicate != nil {
			assert.NotEqual(t, "changed", b.Duplicate.List, name)
		}
		if b.InUse != nil {
			assert.NotEqual(t, "changed", b.InUse.List, name)
		}
		if b.Policy != nil {
			assert.NotEqual(t, "changed", b.Policy.Field, name)
		}
		if b.SecretFile != nil {
			assert.NotEqual(t, "CHANGED", b.SecretFile.Vars[0].Name, name)
			if b.SecretFile.BaseURL != nil {
				assert.NotEqual(t, "CHANGED", b.SecretFile.BaseURL.Var, name)
			}
		}
	}
}
