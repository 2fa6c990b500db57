package tools

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

func catalogRegistry(t *testing.T, f Filter) (*Registry, error) {
	t.Helper()
	e, err := New(Options{Client: sandboxtest.Client(t, "https://api-ch-gva-2.exoscale.com/v2", apiclientCreds())})
	require.NoError(t, err)
	return e.NewRegistry(f)
}

func names(r *Registry) []string {
	var out []string
	for _, t := range r.Tools() {
		out = append(out, t.Name)
	}
	return out
}

func TestRegistry_FilterExposesOnlyWhatTheOperatorChose(t *testing.T) {
	t.Parallel()
	all, err := catalogRegistry(t, Filter{})
	require.NoError(t, err)
	assert.Len(t, all.Tools(), len(schemas.Catalog()))

	ro, err := catalogRegistry(t, Filter{ReadOnly: true})
	require.NoError(t, err)
	for _, n := range names(ro) {
		op, _ := schemas.Lookup(n)
		assert.Equal(t, schemas.Read, op.Access, n)
	}
	assert.Contains(t, names(ro), "list-api-keys")
	assert.NotContains(t, names(ro), "reveal-ai-api-key")

	r, err := catalogRegistry(t, Filter{Toolsets: []string{"api-keys"}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"list-api-keys", "get-api-key", "create-api-key", "delete-api-key"}, names(r))
	r, err = catalogRegistry(t, Filter{Tools: []string{"list-api-keys", "get-api-key", "delete-api-key"}, Exclude: []string{"delete-api-key"}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"list-api-keys", "get-api-key"}, names(r))

	_, err = catalogRegistry(t, Filter{Tools: []string{"list-api-key"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"list-api-key"`)
	_, err = catalogRegistry(t, Filter{Toolsets: []string{"keys"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "api-keys")
}

// TestRegistry_CompositeToolsSitBesideCatalogTools: a composite registers like any tool, is
// filtered by its toolset, and runs its steps through Engine.Call.
func TestRegistry_CompositeToolsSitBesideCatalogTools(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	var r Registry
	require.NoError(t, r.AddTools(v.e.CatalogTools()...))
	composite := Tool{
		Name: "preview-role", Title: "Preview a role", Toolset: "workflows", Description: "d",
		InputSchema: []byte(`{"type":"object"}`), Access: schemas.Create,
		Handler: func(ctx context.Context, _ map[string]any) (Result, error) {
			return v.e.Call(ctx, "create-iam-role", map[string]any{"name": "x", "policy": map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}, "dry-run": true})
		},
	}
	require.NoError(t, r.AddTools(composite))
	assert.Error(t, r.AddTools(composite), "a name is registered once")
	assert.Error(t, r.AddTools(Tool{Name: "no-handler", InputSchema: []byte(`{}`)}))

	tool, ok := r.Tool("preview-role")
	require.True(t, ok)
	res, err := tool.Handler(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, DryRun, res.Outcome, "the composite learns the step was a dry run")
	assert.Zero(t, v.sb.Requests("POST", "/iam-role"))

	f, err := r.Filtered(Filter{Toolsets: []string{"workflows"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"preview-role"}, names(f))
	f, err = r.Filtered(Filter{ReadOnly: true})
	require.NoError(t, err)
	assert.NotContains(t, names(f), "preview-role")

	r.AddResources(Resource{URI: "exoscale://x", Name: "x"})
	r.AddResourceTemplates(ResourceTemplate{URITemplate: "exoscale://x/{id}", Name: "x"})
	r.AddPrompts(Prompt{Name: "p"})
	f, err = r.Filtered(Filter{Tools: []string{"list-zones"}})
	require.NoError(t, err)
	assert.Len(t, f.Resources(), 1, "filters apply to tools only")
	assert.Len(t, f.ResourceTemplates(), 1)
	assert.Len(t, f.Prompts(), 1)
}

// TestEngine_HoldsNoOperationName: per-operation behaviour is catalog data. No string literal
// in the engine's files (the top-level non-test files of tools/) names a catalog operation,
// and no API path is written out again.
func TestEngine_HoldsNoOperationName(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var words []*regexp.Regexp
	for _, op := range schemas.Catalog() {
		words = append(words, regexp.MustCompile(`(^|[^a-z-])`+regexp.QuoteMeta(op.Name)+`($|[^a-z-])`))
	}
	paths := regexp.MustCompile(`^/(api-key|ai/|iam-|operation|zone)`)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			require.NoError(t, err)
			for _, w := range words {
				assert.False(t, w.MatchString(s), "%s: %s names an operation: read it from the catalog", fset.Position(lit.Pos()), lit.Value)
			}
			assert.False(t, paths.MatchString(s), "%s: %s is an API path: read it from the catalog", fset.Position(lit.Pos()), lit.Value)
			return true
		})
	}
	assert.Greater(t, checked, 5)
}
