package mcpadapter

import (
	"context"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/tools"
)

func startClient(t *testing.T, srv *server.MCPServer) *client.Client {
	t.Helper()
	c, err := client.NewInProcessClient(srv)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Start(t.Context()))
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "t", Version: "1"}
	_, err = c.Initialize(t.Context(), init)
	require.NoError(t, err)
	return c
}

func callTool(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(t.Context(), req)
	require.NoError(t, err, "an unknown tool is a tool result the model reads, not a JSON-RPC error")
	return res
}

func text(res *mcp.CallToolResult) string {
	if len(res.Content) == 0 {
		return ""
	}
	tc, _ := res.Content[0].(mcp.TextContent)
	return tc.Text
}

// TestUnknownTool_AnswersWithTheNearestServedNames: a misspelt tool gets a tool result naming
// the nearest tools this server serves; nothing is called, and the real tools still work.
func TestUnknownTool_AnswersWithTheNearestServedNames(t *testing.T) {
	t.Parallel()
	reg, e, sb := catalogRegistry(t)
	hooks := &server.Hooks{}
	var mu sync.Mutex
	var afterNames []string
	hooks.AddAfterCallTool(func(_ context.Context, _ any, req *mcp.CallToolRequest, _ any) {
		mu.Lock()
		defer mu.Unlock()
		afterNames = append(afterNames, req.Params.Name)
	})
	c := startClient(t, NewServer("test", "1", reg, e.Instructions(reg), nil, server.WithHooks(hooks)))

	res := callTool(t, c, "delete-key", map[string]any{"id": "EXO1"})
	assert.True(t, res.IsError)
	assert.Contains(t, text(res), `Unknown tool "delete-key"; nothing was called.`)
	assert.Contains(t, text(res), "Did you mean delete-api-key")
	res = callTool(t, c, "list-api-key", nil)
	assert.Contains(t, text(res), "Did you mean list-api-keys, ")
	res = callTool(t, c, "", nil)
	assert.Contains(t, text(res), "Unknown tool \"\"")
	assert.Zero(t, sb.Requests("", ""), "nothing reached Exoscale")

	res = callTool(t, c, "list-zones", nil)
	assert.False(t, res.IsError, text(res))

	// Later hooks see the name the client called.
	mu.Lock()
	assert.Contains(t, afterNames, "delete-key")
	assert.Contains(t, afterNames, "list-zones")
	mu.Unlock()
}

func TestUnknownTool_SuggestsOnlyServedTools(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, tools.Options{})
	reg, err := e.NewRegistry(tools.Filter{ReadOnly: true})
	require.NoError(t, err)
	c := startClient(t, NewServer("test", "1", reg, e.Instructions(reg), nil))

	res := callTool(t, c, "delete-api-key", map[string]any{"id": "EXO1"})
	assert.True(t, res.IsError)
	assert.Contains(t, text(res), "not served here (read-only mode or a tool filter)")
	assert.NotContains(t, text(res), "Did you mean delete-")
	assert.Contains(t, text(res), "get-api-key", "the nearest read tool")
}

func TestNearestNames_ByEditDistance(t *testing.T) {
	t.Parallel()
	names := []string{"list-api-keys", "list-ai-api-keys", "get-api-key", "delete-api-key", "list-zones"}
	assert.Equal(t, []string{"list-api-keys", "get-api-key"}, NearestNames("list-api-key", names, 2))
	assert.Equal(t, []string{"list-zones"}, NearestNames("LIST-ZONE", names, 1))
	assert.Empty(t, NearestNames("x", nil, 3))
}
