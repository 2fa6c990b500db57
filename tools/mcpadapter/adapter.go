// Package mcpadapter serves a tools.Registry over MCP with mcp-go
// (github.com/mark3labs/mcp-go). It is the only package besides main that imports mcp-go:
// registry tools become mcp-go ServerTools, engine Results become CallToolResults, and the
// engine's Peer (session, progress, the human's answers) is implemented from the request.
//
// Results: an OK or dry-run result carries its value as structuredContent and the same JSON,
// compacted, as text (after its note, when there is one); any other outcome is an isError
// result whose text says what happened and what to do next. A handler's Go error is a bug:
// it is logged and becomes a JSON-RPC internal error, never advice to the model.
//
// Questions to the human use multi round-trip requests
// (https://modelcontextprotocol.io/specification/draft/client/elicitation): the result asks
// for input and carries the engine's sealed request state; a 2026-07-28 client answers and
// calls again, and mcp-go bridges clients of earlier versions with elicitation/create.
package mcpadapter

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// NewServer returns an MCP server serving reg, with instructions and opts.
func NewServer(name, version string, reg *tools.Registry, instructions string, log *slog.Logger, opts ...server.ServerOption) *server.MCPServer {
	opts = append([]server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithInstructions(instructions),
		server.WithRecovery(),
	}, opts...)
	s := server.NewMCPServer(name, version, opts...)
	Register(s, reg, log)
	return s
}

// Register adds reg's tools, resources, resource templates and prompts to srv.
func Register(srv *server.MCPServer, reg *tools.Registry, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := ServerTools(reg, log)
	if len(st) > 0 {
		u := routeUnknownTools(srv, st[0].Tool.Name)
		for i := range st {
			st[i].Handler = u.wrap(st[i].Handler)
		}
	}
	srv.AddTools(st...)
	for _, r := range reg.Resources() {
		srv.AddResource(mcp.NewResource(r.URI, r.Name, mcp.WithResourceTitle(r.Title), mcp.WithResourceDescription(r.Description), mcp.WithMIMEType(r.MIMEType)),
			resourceHandler(r.Read))
	}
	for _, t := range reg.ResourceTemplates() {
		srv.AddResourceTemplate(mcp.NewResourceTemplate(t.URITemplate, t.Name, mcp.WithTemplateTitle(t.Title), mcp.WithTemplateDescription(t.Description), mcp.WithTemplateMIMEType(t.MIMEType)),
			server.ResourceTemplateHandlerFunc(resourceHandler(t.Read)))
	}
	for _, p := range reg.Prompts() {
		srv.AddPrompt(Prompt(p), promptHandler(p))
	}
}

// Tool builds the MCP definition of t: raw input and output schemas and all four annotation
// hints set explicitly (raw-schema tools otherwise carry none).
func Tool(t tools.Tool) mcp.Tool {
	mt := mcp.NewToolWithRawSchema(t.Name, t.Description, t.InputSchema)
	mt.Title = t.Title
	if len(t.OutputSchema) > 0 {
		mt.RawOutputSchema = t.OutputSchema
	}
	mt.Annotations = mcp.ToolAnnotation{
		Title:           t.Title,
		ReadOnlyHint:    mcp.ToBoolPtr(t.Annotations.ReadOnly),
		DestructiveHint: mcp.ToBoolPtr(t.Annotations.Destructive),
		IdempotentHint:  mcp.ToBoolPtr(t.Annotations.Idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(t.Annotations.OpenWorld),
	}
	return mt
}

// ServerTools returns reg's tools with their handlers, in registry order.
func ServerTools(reg *tools.Registry, log *slog.Logger) []server.ServerTool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var out []server.ServerTool
	for _, t := range reg.Tools() {
		out = append(out, server.ServerTool{Tool: Tool(t), Handler: toolHandler(t, log)})
	}
	return out
}

func toolHandler(t tools.Tool, log *slog.Logger) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := arguments(req)
		if err != nil {
			return errorResult(fmt.Sprintf("invalid arguments for %s: %v; nothing was sent.", t.Name, err)), nil
		}
		res, err := t.Handler(tools.WithPeer(ctx, &peer{ctx: ctx, req: &req}), args)
		if err != nil {
			log.Error("internal error in a tool", "tool", t.Name, "error", err)
			return nil, fmt.Errorf("internal error in %s", t.Name)
		}
		return Result(res), nil
	}
}

// arguments returns the call's arguments as an object (absent = empty).
func arguments(req mcp.CallToolRequest) (map[string]any, error) {
	switch a := req.Params.Arguments.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return a, nil
	default:
		return nil, fmt.Errorf("expected an object of named arguments, got %s", schemas.JSONKind(a))
	}
}

// Result renders an engine result as an MCP tool result.
func Result(res tools.Result) *mcp.CallToolResult {
	switch {
	case res.Outcome == tools.NeedsInput && res.Question != nil:
		return server.NewInputRequestBuilder(res.State).Elicit(res.Question.ID, mcp.ElicitationParams{
			Message:         res.Question.Message,
			RequestedSchema: confirmSchema,
		}).ToolResult()
	case res.IsError() || len(res.Value) == 0:
		text := res.Text
		if text == "" {
			text = res.Note
		}
		return errorResult(text)
	}
	text := string(res.Value)
	if res.Note != "" {
		text = res.Note + "\n" + text
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(text)},
		StructuredContent: res.Value,
	}
}

// confirmSchema is the form of a yes or no question: one boolean, "confirm".
var confirmSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"confirm": map[string]any{"type": "boolean", "title": "Go ahead", "default": false},
	},
	"required": []string{"confirm"},
}

func errorResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(text)}, IsError: true}
}

// peer implements tools.Peer for one tools/call request.
type peer struct {
	ctx context.Context
	req *mcp.CallToolRequest
}

func (p *peer) SessionID() string {
	if s := server.ClientSessionFromContext(p.ctx); s != nil {
		return s.SessionID()
	}
	return ""
}

// Progress sends a progress notification when the client asked for them (a progress token).
func (p *peer) Progress(ctx context.Context, progress int, message string) {
	if p.req.Params.Meta == nil || p.req.Params.Meta.ProgressToken == nil {
		return
	}
	srv := server.ServerFromContext(p.ctx)
	if srv == nil {
		return
	}
	// A failed notification must not fail the call: the client may have gone.
	_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), map[string]any{
		"progressToken": p.req.Params.Meta.ProgressToken,
		"progress":      progress,
		"message":       message,
	})
}

// CanAsk: whether the client declared elicitation, per request (2026-07-28 on) or in its
// session (earlier versions).
func (p *peer) CanAsk() bool {
	if p.req.Params.Meta != nil {
		if caps := p.req.Params.Meta.ClientCapabilities(); caps != nil {
			return caps.Elicitation != nil
		}
	}
	s, ok := server.ClientSessionFromContext(p.ctx).(server.SessionWithClientInfo)
	return ok && s.GetClientCapabilities().Elicitation != nil
}

// Answer reads the answer to question id from the request's input responses, with the
// request state the client echoed.
func (p *peer) Answer(id string) (tools.Answer, bool) {
	answer := server.ElicitationResponse(p.req.Params.InputResponses, id)
	if answer == nil {
		return tools.Answer{}, false
	}
	a := tools.Answer{Accepted: answer.Action == mcp.ElicitationResponseActionAccept, State: p.req.Params.RequestState}
	if content, ok := answer.Content.(map[string]any); ok {
		a.Yes = content["confirm"] == true
	}
	return a, true
}

func resourceHandler(read func(context.Context, string) ([]tools.ResourceContent, error)) server.ResourceHandlerFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		contents, err := read(ctx, req.Params.URI)
		if err != nil {
			return nil, err
		}
		out := make([]mcp.ResourceContents, 0, len(contents))
		for _, c := range contents {
			out = append(out, mcp.TextResourceContents{URI: c.URI, MIMEType: c.MIMEType, Text: c.Text})
		}
		return out, nil
	}
}

// Prompt builds the MCP definition of p.
func Prompt(p tools.Prompt) mcp.Prompt {
	opts := []mcp.PromptOption{mcp.WithPromptDescription(p.Description)}
	for _, a := range p.Arguments {
		aopts := []mcp.ArgumentOption{mcp.ArgumentDescription(a.Description)}
		if a.Required {
			aopts = append(aopts, mcp.RequiredArgument())
		}
		opts = append(opts, mcp.WithArgument(a.Name, aopts...))
	}
	mp := mcp.NewPrompt(p.Name, opts...)
	mp.Title = p.Title
	return mp
}

func promptHandler(p tools.Prompt) server.PromptHandlerFunc {
	return func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		res, err := p.Get(ctx, req.Params.Arguments)
		if err != nil {
			return nil, err
		}
		msgs := make([]mcp.PromptMessage, 0, len(res.Messages))
		for _, m := range res.Messages {
			msgs = append(msgs, mcp.NewPromptMessage(mcp.Role(m.Role), mcp.NewTextContent(m.Text)))
		}
		return mcp.NewGetPromptResult(res.Description, msgs), nil
	}
}
