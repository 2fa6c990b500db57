package mcpadapter

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
	"github.com/exokeys/exoscale-keys-mcp/tools/iamtools"
	"github.com/exokeys/exoscale-keys-mcp/tools/workflows"
)

var update = flag.Bool("update", false, "rewrite golden files")

// newEngine returns an engine on a sandbox (or on an address nothing listens on).
func newEngine(t *testing.T, opts tools.Options) (*tools.Engine, *sandbox.Sandbox) {
	t.Helper()
	sb, c := sandboxtest.ServerClient(t)
	opts.Client = c
	if opts.Secrets.Mode == "" {
		opts.Secrets = tools.SecretDelivery{Mode: tools.DeliverInline}
	}
	e, err := tools.New(opts)
	require.NoError(t, err)
	return e, sb
}

func catalogRegistry(t *testing.T) (*tools.Registry, *tools.Engine, *sandbox.Sandbox) {
	t.Helper()
	e, sb := newEngine(t, tools.Options{})
	reg, err := e.NewRegistry(tools.Filter{})
	require.NoError(t, err)
	return reg, e, sb
}

// TestAnnotations_FollowTheHTTPContract holds every tool's hints to its method and access.
func TestAnnotations_FollowTheHTTPContract(t *testing.T) {
	t.Parallel()
	reg, _, _ := catalogRegistry(t)
	for _, st := range ServerTools(reg, nil) {
		tool := st.Tool
		op, ok := schemas.Lookup(tool.Name)
		require.True(t, ok)
		a := tool.Annotations
		require.NotNil(t, a.ReadOnlyHint, tool.Name)
		require.NotNil(t, a.DestructiveHint, tool.Name)
		require.NotNil(t, a.IdempotentHint, tool.Name)
		require.NotNil(t, a.OpenWorldHint, tool.Name)
		assert.NotEmpty(t, a.Title, tool.Name)
		assert.NotEmpty(t, tool.Title, tool.Name)
		assert.True(t, *a.OpenWorldHint, tool.Name)

		get := op.Method == "GET"
		assert.Equal(t, get, *a.ReadOnlyHint, "%s: read-only iff GET", tool.Name)
		wantIdem := get || op.Method == "PUT" || op.Method == "DELETE"
		assert.Equal(t, wantIdem, *a.IdempotentHint, "%s: idempotent iff GET, PUT or DELETE", tool.Name)
		wantDestr := op.Method == "DELETE" || op.Access == schemas.Replace || op.Access == schemas.Rotate || op.Access == schemas.Reset
		assert.Equal(t, wantDestr, *a.DestructiveHint, "%s: destructive iff DELETE, policy replacement, rotate or reset", tool.Name)
		if op.Access == schemas.Create {
			assert.False(t, *a.IdempotentHint, "%s: a create is never idempotent", tool.Name)
		}
	}
}

// TestToolsList_Golden pins what the model sees: any change to names, descriptions, schemas
// or hints shows in review. Run with -update to accept a change.
func TestToolsList_Golden(t *testing.T) {
	t.Parallel()
	reg, e, _ := catalogRegistry(t)
	require.NoError(t, iamtools.Register(reg, e))
	// The composite tools are served beside the catalog's: the model sees them too.
	require.NoError(t, reg.AddTools(workflows.Tools(e, workflows.Options{})...))
	var list []mcp.Tool
	for _, st := range ServerTools(reg, nil) {
		list = append(list, st.Tool)
	}
	got, err := json.MarshalIndent(list, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("..", "testdata", "tools-list.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "tools/list changed: review, then go test ./tools/mcpadapter -run Golden -update")
}

func TestResult_RendersEachOutcome(t *testing.T) {
	t.Parallel()
	ok := Result(tools.Result{Outcome: tools.OK, Value: json.RawMessage(`{"a":1}`), Note: "note"})
	assert.False(t, ok.IsError)
	assert.Equal(t, "note\n{\"a\":1}", ok.Content[0].(mcp.TextContent).Text)
	assert.Equal(t, json.RawMessage(`{"a":1}`), ok.StructuredContent)

	bad := Result(tools.Result{Outcome: tools.Refused, Text: "refused: no"})
	assert.True(t, bad.IsError)
	assert.Equal(t, "refused: no", bad.Content[0].(mcp.TextContent).Text)
	assert.Nil(t, bad.StructuredContent)

	q := Result(tools.Result{Outcome: tools.NeedsInput, Question: &tools.Question{ID: tools.ConfirmID, Message: "Delete x?"}, State: "sealed"})
	require.True(t, q.NeedsInput())
	assert.Equal(t, "sealed", q.RequestState)
	require.Contains(t, q.InputRequests, tools.ConfirmID)
	assert.Equal(t, "Delete x?", q.InputRequests[tools.ConfirmID].Elicitation.Message)
}

// TestPeer_ReadsTheAnswerWithItsRequestState: the engine sees the client's answer together
// with the request state it echoed; an answer with no state carries none.
func TestPeer_ReadsTheAnswerWithItsRequestState(t *testing.T) {
	t.Parallel()
	var req mcp.CallToolRequest
	p := &peer{ctx: context.Background(), req: &req}
	_, found := p.Answer(tools.ConfirmID)
	assert.False(t, found)
	assert.False(t, p.CanAsk())
	assert.Empty(t, p.SessionID())
	p.Progress(context.Background(), 1, "no token: nothing sent")

	req.Params.InputResponses = mcp.InputResponses{tools.ConfirmID: mcp.NewElicitationInputResponse(mcp.ElicitationResult{
		ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"confirm": true}},
	})}
	req.Params.RequestState = "sealed"
	req.Params.Meta = &mcp.Meta{}
	req.Params.Meta.SetClientCapabilities(mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapability{}})
	a, found := p.Answer(tools.ConfirmID)
	require.True(t, found)
	assert.Equal(t, tools.Answer{Accepted: true, Yes: true, State: "sealed"}, a)
	assert.True(t, p.CanAsk(), "per-request capabilities")
}

// TestServer_InProcess serves a registry with a catalog tool, a composite, a resource, a
// resource template and a prompt through mcp-go, and calls each from a client.
func TestServer_InProcess(t *testing.T) {
	t.Parallel()
	e, sb := newEngine(t, tools.Options{})
	reg, err := e.NewRegistry(tools.Filter{Tools: []string{"list-iam-roles", "delete-api-key"}})
	require.NoError(t, err)
	require.NoError(t, reg.AddTools(
		tools.Tool{Name: "broken", Title: "Broken", Toolset: "test", Description: "fails", InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(context.Context, map[string]any) (tools.Result, error) {
				return tools.Result{}, errors.New("impossible state")
			}},
		tools.Tool{Name: "session", Title: "Session", Toolset: "test", Description: "says the session", InputSchema: json.RawMessage(`{"type":"object"}`),
			Annotations: tools.Annotations{ReadOnly: true, Idempotent: true}, Access: schemas.Read,
			Handler: func(ctx context.Context, _ map[string]any) (tools.Result, error) {
				p := tools.PeerFrom(ctx)
				return tools.Result{Outcome: tools.OK, Value: json.RawMessage(`{"session":"` + p.SessionID() + `"}`)}, nil
			}},
	))
	read := func(_ context.Context, uri string) ([]tools.ResourceContent, error) {
		return []tools.ResourceContent{{URI: uri, MIMEType: "text/plain", Text: "hello " + uri}}, nil
	}
	reg.AddResources(tools.Resource{URI: "exoscale-keys://test", Name: "test", Title: "Test", Description: "a test resource", MIMEType: "text/plain", Read: read})
	reg.AddResourceTemplates(tools.ResourceTemplate{URITemplate: "exoscale-keys://test/{id}", Name: "item", Description: "one item", MIMEType: "text/plain", Read: read})
	reg.AddPrompts(tools.Prompt{Name: "greet", Title: "Greet", Description: "a test prompt",
		Arguments: []tools.PromptArgument{{Name: "who", Description: "whom", Required: true}},
		Get: func(_ context.Context, args map[string]string) (tools.PromptResult, error) {
			return tools.PromptResult{Description: "greeting", Messages: []tools.PromptMessage{{Role: "user", Text: "hello " + args["who"]}}}, nil
		}})

	srv := NewServer("test", "1", reg, e.Instructions(reg), nil)
	c, err := client.NewInProcessClient(srv)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	require.NoError(t, c.Start(ctx))
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "t", Version: "1"}
	ir, err := c.Initialize(ctx, init)
	require.NoError(t, err)
	assert.Equal(t, e.Instructions(reg), ir.Instructions)

	list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	require.NoError(t, err)
	var listed []string
	for _, tl := range list.Tools {
		listed = append(listed, tl.Name)
	}
	assert.ElementsMatch(t, []string{"list-iam-roles", "delete-api-key", "broken", "session"}, listed)

	call := func(name string, args any) (*mcp.CallToolResult, error) {
		req := mcp.CallToolRequest{}
		req.Params.Name = name
		req.Params.Arguments = args
		return c.CallTool(ctx, req)
	}
	res, err := call("list-iam-roles", nil)
	require.NoError(t, err)
	require.False(t, res.IsError)
	assert.Contains(t, res.Content[0].(mcp.TextContent).Text, sandbox.AdminRoleName)

	res, err = call("delete-api-key", map[string]any{"id": "x"})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Contains(t, res.Content[0].(mcp.TextContent).Text, "invalid arguments for delete-api-key")
	assert.Zero(t, sb.Requests("DELETE", "/api-key/*"))

	res, err = call("delete-api-key", []any{"not", "an", "object"})
	if err == nil {
		assert.True(t, res.IsError)
	}

	_, err = call("broken", nil)
	require.Error(t, err, "a bug is a JSON-RPC error, not advice to the model")
	assert.NotContains(t, err.Error(), "impossible state", "the internal detail is logged, not sent")

	res, err = call("session", nil)
	require.NoError(t, err)
	assert.False(t, res.IsError)

	resources, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	require.NoError(t, err)
	require.Len(t, resources.Resources, 1)
	assert.Equal(t, "Test", resources.Resources[0].Title)
	rr := mcp.ReadResourceRequest{}
	rr.Params.URI = "exoscale-keys://test/42"
	read1, err := c.ReadResource(ctx, rr)
	require.NoError(t, err)
	assert.Equal(t, "hello exoscale-keys://test/42", read1.Contents[0].(mcp.TextResourceContents).Text)

	prompts, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
	require.NoError(t, err)
	require.Len(t, prompts.Prompts, 1)
	assert.True(t, prompts.Prompts[0].Arguments[0].Required)
	gp := mcp.GetPromptRequest{}
	gp.Params.Name = "greet"
	gp.Params.Arguments = map[string]string{"who": "world"}
	got, err := c.GetPrompt(ctx, gp)
	require.NoError(t, err)
	assert.Equal(t, "hello world", got.Messages[0].Content.(mcp.TextContent).Text)
}
