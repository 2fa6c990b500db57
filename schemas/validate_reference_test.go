package schemas

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// namedSchema is a schema we ship, with where it comes from.
type namedSchema struct {
	name string
	raw  json.RawMessage
}

// compositeSources are the packages whose tools validate through Validate with a schema of
// their own (a Go string literal): their schemas must keep to what the walker implements too.
var compositeSources = []string{"../tools/workflows", "../tools/iamtools"}

// compositeSchemas finds the JSON Schema literals (`{"type":"object",...}`) in the composite
// tools' source.
func compositeSchemas(t testing.TB) []namedSchema {
	t.Helper()
	var out []namedSchema
	for _, dir := range compositeSources {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		require.NoError(t, err)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			require.NoError(t, err, f)
			ast.Inspect(file, func(n ast.Node) bool {
				if bin, ok := n.(*ast.BinaryExpr); ok && bin.Op == token.ADD {
					// A schema put together from pieces is an output schema: results are
					// described by them, arguments are never validated against them.
					return false
				}
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil || !strings.HasPrefix(strings.TrimSpace(s), `{"type":"object"`) {
					return true
				}
				require.True(t, json.Valid([]byte(s)), "%s: a schema literal that is not JSON", f)
				out = append(out, namedSchema{name: filepath.Base(f) + ":" + strconv.Itoa(len(out)), raw: json.RawMessage(s)})
				return true
			})
		}
	}
	return out
}

// argumentSchemas are all schemas arguments are validated against: every catalog operation's
// validation schema and the composite tools' schemas.
func argumentSchemas(t testing.TB) []namedSchema {
	var out []namedSchema
	for _, op := range Catalog() {
		out = append(out, namedSchema{op.Name, op.validationSchema()})
	}
	return append(out, compositeSchemas(t)...)
}

func TestValidate_EverySchemaUsesOnlyImplementedKeywords(t *testing.T) {
	t.Parallel()
	composite := compositeSchemas(t)
	require.GreaterOrEqual(t, len(composite), 7, "the composite tools' schemas were not found")
	all := slices.Clone(composite)
	for _, op := range Catalog() {
		all = append(all,
			namedSchema{op.Name + " input", op.InputSchema},
			namedSchema{op.Name + " validate", op.ValidationSchema},
			namedSchema{op.Name + " output", op.OutputSchema})
	}
	for _, s := range all {
		if len(s.raw) == 0 {
			continue
		}
		_, err := compileSchema(s.name, s.raw)
		assert.NoError(t, err, s.name)
	}
}

func TestValidate_UnimplementedKeywordIsAnErrorNeverIgnored(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{
		`{"type":"object","properties":{"id":{"type":"string","format":"uuid"}}}`,
		`{"type":"object","anyOf":[{"required":["a"]},{"required":["b"]}]}`,
		`{"type":"object","properties":{"a":{"const":1}}}`,
		`{"type":"object","properties":{"a":{"type":"array","items":{"$ref":"#"}}}}`,
		`{"type":"object","additionalProperties":{"minProperties":1}}`,
		`{"type":"object","properties":{"a":{"type":"number","multipleOf":2}}}`,
	} {
		err := Validate(Operation{Name: "t", InputSchema: json.RawMessage(schema)}, map[string]any{"a": 1, "id": "x"})
		require.Error(t, err, schema)
		var verr *ValidationError
		assert.False(t, errors.As(err, &verr), "%s: a broken schema is a bug, not the caller's fault", schema)
		assert.Contains(t, err.Error(), "not implemented", schema)
	}
}

// reference compiles a schema with google/jsonschema-go, the implementation the official MCP
// Go SDK uses.
func reference(t testing.TB, raw json.RawMessage) *jsonschema.Resolved {
	t.Helper()
	var s jsonschema.Schema
	require.NoError(t, json.Unmarshal(raw, &s))
	r, err := s.Resolve(nil)
	require.NoError(t, err)
	return r
}

// agree checks that the walker and the reference accept and refuse the same arguments; v is
// as encoding/json decodes (float64 numbers), which is what the reference understands.
func agree(t testing.TB, s namedSchema, cs *compiledSchema, ref *jsonschema.Resolved, v any) bool {
	t.Helper()
	ours, theirs := cs.schema.Validate(v), ref.Validate(v)
	if (ours == nil) != (theirs == nil) {
		b, _ := json.Marshal(v)
		t.Errorf("%s: %s\n  walker:    %v\n  reference: %v", s.name, b, ours, theirs)
	}
	return ours == nil
}

// TestValidate_AgreesWithReferenceOnGeneratedArguments generates arguments from every schema,
// mostly close to valid (so that each keyword decides), and holds the walker to the reference.
func TestValidate_AgreesWithReferenceOnGeneratedArguments(t *testing.T) {
	t.Parallel()
	const perSchema = 400
	for _, s := range argumentSchemas(t) {
		cs, err := compileSchema(s.name, s.raw)
		require.NoError(t, err, s.name)
		ref := reference(t, s.raw)
		var schema map[string]any
		require.NoError(t, json.Unmarshal(s.raw, &schema))
		rnd := rand.New(rand.NewPCG(1, uint64(len(s.name))))
		valid := 0
		for range perSchema {
			b, err := json.Marshal(generate(rnd, schema, 0))
			require.NoError(t, err)
			var v any
			require.NoError(t, json.Unmarshal(b, &v))
			if agree(t, s, cs, ref, v) {
				valid++
			}
		}
		// Both answers are exercised, or the comparison proves little.
		assert.Positive(t, valid, "%s: no generated argument was valid", s.name)
		if len(s.raw) > len(`{"type":"object","properties":{},"additionalProperties":false}`) {
			assert.Less(t, valid, perSchema, "%s: no generated argument was invalid", s.name)
		}
	}
	for name, cases := range goodArgs {
		op := mustLookup(t, name)
		s := namedSchema{name, op.validationSchema()}
		cs, err := compileSchema(name, s.raw)
		require.NoError(t, err)
		for _, c := range cases {
			assert.True(t, agree(t, s, cs, reference(t, s.raw), args(t, c)), "%s %s", name, c)
		}
	}
}

// samples are strings that hit the patterns, lengths and enums of our schemas, and miss them.
var samples = []string{
	"", "a", "x y", "bad;name", "public", "private", "allow", "deny", "rules", "read", "write",
	uuid1, strings.ToUpper(uuid2), uuid1 + "0", "EXO", "EXO1a2b3c", "EXOabc-1", "2026-01-31T23:59:00Z",
	"2026-01-31 23:59", "list-zones", "reset-iam-organization-policy", "compute", "é", strings.Repeat("n", 191),
	strings.Repeat("n", 192), strings.Repeat("d", 255), strings.Repeat("d", 256), "chat (prod) 2", " lead",
}

// generate makes a value for schema s: usually of the right type and shape, sometimes not.
func generate(rnd *rand.Rand, s map[string]any, depth int) any {
	if rnd.IntN(8) == 0 || depth > 6 {
		return anyValue(rnd, depth)
	}
	if e, ok := s["enum"].([]any); ok && rnd.IntN(4) != 0 {
		return e[rnd.IntN(len(e))]
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "object":
		obj := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if rnd.IntN(10) != 0 {
				name := r.(string)
				p, _ := props[name].(map[string]any)
				obj[name] = generate(rnd, p, depth+1)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(props)) { // sorted: a seed gives one sequence
			if rnd.IntN(3) == 0 {
				obj[name] = generate(rnd, props[name].(map[string]any), depth+1)
			}
		}
		if rnd.IntN(6) == 0 {
			ap, _ := s["additionalProperties"].(map[string]any)
			obj[samples[rnd.IntN(len(samples))]] = generate(rnd, ap, depth+1)
		}
		return obj
	case "array":
		items, _ := s["items"].(map[string]any)
		arr := []any{}
		for range rnd.IntN(4) {
			arr = append(arr, generate(rnd, items, depth+1))
		}
		if len(arr) > 0 && rnd.IntN(5) == 0 {
			arr = append(arr, arr[0])
		}
		return arr
	case "string":
		return samples[rnd.IntN(len(samples))]
	case "integer", "number":
		n := []float64{0, 1, -1, 2, 900, 3600, 3650, 3651, 43200, 1.5, 0.5, 1e21}[rnd.IntN(12)]
		return n
	case "boolean":
		return rnd.IntN(2) == 0
	}
	return anyValue(rnd, depth)
}

func anyValue(rnd *rand.Rand, depth int) any {
	switch rnd.IntN(7) {
	case 0:
		return nil
	case 1:
		return rnd.IntN(2) == 0
	case 2:
		return float64(rnd.IntN(5)) - 1
	case 3:
		return 2.5
	case 4:
		if depth < 3 {
			return []any{anyValue(rnd, depth+1)}
		}
		return []any{}
	case 5:
		if depth < 3 {
			return map[string]any{"type": anyValue(rnd, depth+1)}
		}
		return map[string]any{}
	}
	return samples[rnd.IntN(len(samples))]
}

// FuzzValidate_AgreesWithReference holds the walker to google/jsonschema-go on arbitrary
// arguments for every schema we ship:
//
//	go test ./schemas -run '^$' -fuzz FuzzValidate_AgreesWithReference -fuzztime 60s
func FuzzValidate_AgreesWithReference(f *testing.F) {
	for name, cases := range goodArgs {
		for _, c := range cases {
			f.Add(name, []byte(c))
		}
	}
	f.Add("check", []byte(`{"operations":[]}`))
	f.Add("clone", []byte(`{"template":"EXO1","name":"n","add-operations":["a","a"]}`))
	all := argumentSchemas(f)
	compiled := make([]*compiledSchema, len(all))
	refs := make([]*jsonschema.Resolved, len(all))
	for i, s := range all {
		cs, err := compileSchema(s.name, s.raw)
		require.NoError(f, err, s.name)
		compiled[i], refs[i] = cs, reference(f, s.raw)
	}
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		var v map[string]any
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		i := slices.IndexFunc(all, func(s namedSchema) bool { return s.name == name || strings.HasPrefix(s.name, name+".go:") })
		if i < 0 {
			i = len(name) % len(all)
		}
		agree(t, all[i], compiled[i], refs[i], v)
	})
}
