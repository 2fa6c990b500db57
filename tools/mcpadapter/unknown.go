package mcpadapter

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/internal/nearest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// unknownTools answers a call of a tool the server does not serve with the nearest tool names,
// as a tool result the model reads, where mcp-go would answer with a JSON-RPC error ("tool 'x'
// not found") that clients often do not show to the model.
//
// mcp-go has no hook for an unknown tool, so the before-call hook routes the call to a served
// tool (borrow) and marks the request with a fresh _meta object, which no client can forge:
// the mark is its pointer identity. The wrapped handler answers for a marked request; the
// after-call and error hooks put the name back and forget the mark.
type unknownTools struct {
	srv    *server.MCPServer
	borrow string

	mu      sync.Mutex
	pending map[*mcp.Meta]string
}

func routeUnknownTools(srv *server.MCPServer, borrow string) *unknownTools {
	u := &unknownTools{srv: srv, borrow: borrow, pending: map[*mcp.Meta]string{}}
	hooks := srv.GetHooks()
	if hooks == nil {
		hooks = &server.Hooks{}
		server.WithHooks(hooks)(srv)
	}
	hooks.AddBeforeCallTool(func(_ context.Context, _ any, req *mcp.CallToolRequest) {
		if req == nil || srv.GetTool(req.Params.Name) != nil {
			return
		}
		mark := &mcp.Meta{}
		u.mu.Lock()
		u.pending[mark] = req.Params.Name
		u.mu.Unlock()
		req.Params.Meta = mark
		req.Params.Name = borrow
	})
	// First, so that every other after-call and error hook sees the name the client called.
	hooks.OnAfterCallTool = append([]server.OnAfterCallToolFunc{func(_ context.Context, _ any, req *mcp.CallToolRequest, _ any) {
		u.forget(req)
	}}, hooks.OnAfterCallTool...)
	hooks.OnError = append([]server.OnErrorHookFunc{func(_ context.Context, _ any, method mcp.MCPMethod, msg any, _ error) {
		if req, ok := msg.(*mcp.CallToolRequest); ok && method == mcp.MethodToolsCall {
			u.forget(req)
		}
	}}, hooks.OnError...)
	return u
}

func (u *unknownTools) name(req *mcp.CallToolRequest) (string, bool) {
	if req == nil || req.Params.Meta == nil {
		return "", false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	name, ok := u.pending[req.Params.Meta]
	return name, ok
}

// forget puts the called name back (for later hooks and logs) and drops the mark.
func (u *unknownTools) forget(req *mcp.CallToolRequest) {
	if req == nil || req.Params.Meta == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if name, ok := u.pending[req.Params.Meta]; ok {
		delete(u.pending, req.Params.Meta)
		req.Params.Name = name
	}
}

func (u *unknownTools) wrap(h server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if name, ok := u.name(&req); ok {
			served := make([]string, 0, len(u.srv.ListTools()))
			for n := range u.srv.ListTools() {
				served = append(served, n)
			}
			return errorResult(UnknownToolText(name, served)), nil
		}
		return h(ctx, req)
	}
}

// UnknownToolText is the answer to a call of a tool that is not served: the nearest served
// names, and whether the name is a tool this server's settings hide.
func UnknownToolText(name string, served []string) string {
	shown := name
	if utf8.RuneCountInString(shown) > 64 {
		shown = string([]rune(shown)[:64]) + "…"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Unknown tool %q; nothing was called.", shown)
	if schemas.Has(name) {
		b.WriteString(" It is a tool of this server, but not served here (read-only mode or a tool filter).")
	}
	if near := NearestNames(name, served, 3); len(near) > 0 {
		fmt.Fprintf(&b, " Did you mean %s?", strings.Join(near, ", "))
	}
	fmt.Fprintf(&b, " tools/list shows the %d tools served.", len(served))
	return b.String()
}

// NearestNames returns up to n of candidates closest to name by edit distance (on lower case),
// closest first, ties in name order.
func NearestNames(name string, candidates []string, n int) []string {
	target := strings.ToLower(name)
	if utf8.RuneCountInString(target) > 128 {
		target = string([]rune(target)[:128]) // bounds the work whatever a client sends
	}
	return nearest.Names(target, candidates, -1, n)
}
