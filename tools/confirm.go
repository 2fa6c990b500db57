package tools

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// ConfirmMode says which calls need a human's yes.
type ConfirmMode string

// Confirmation modes.
const (
	ConfirmNone        ConfirmMode = "none"
	ConfirmDestructive ConfirmMode = "destructive"
	ConfirmWrites      ConfirmMode = "writes"
)

// ConfirmOptions configure human confirmation through MCP elicitation.
type ConfirmOptions struct {
	Mode ConfirmMode
	// AllowWithoutElicitation lets calls through when the client cannot ask its human
	// (--confirm-fallback allow). The default refuses them.
	AllowWithoutElicitation bool
}

func (o ConfirmOptions) validate() error {
	switch o.Mode {
	case "", ConfirmNone, ConfirmDestructive, ConfirmWrites:
		return nil
	}
	return fmt.Errorf("confirm: expected none, destructive or writes, got %q", o.Mode)
}

func (o ConfirmOptions) needed(c *call) bool {
	switch o.Mode {
	case ConfirmDestructive:
		return c.op.Destructive()
	case ConfirmWrites:
		return !c.op.ReadOnly()
	}
	return false
}

// confirmID keys our confirmation among a call's input requests.
const confirmID = "confirm"

// confirmCall asks the human, when the mode says so, through a multi round-trip request:
// the call answers "input required", the client asks its human and calls again with the
// answer (mcp-go bridges clients of earlier protocol versions with elicitation/create). It
// returns a result that ends this round (the question, a refusal) and its outcome, or nil to
// go on.
func (h *Handler) confirmCall(ctx context.Context, c *call, req mcp.CallToolRequest, args map[string]any) (*mcp.CallToolResult, string) {
	if !h.confirm.needed(c) {
		return nil, ""
	}
	if answer := server.ElicitationResponse(req.Params.InputResponses, confirmID); answer != nil {
		if answer.Action == mcp.ElicitationResponseActionAccept {
			if content, ok := answer.Content.(map[string]any); ok && content["confirm"] == true {
				return nil, ""
			}
		}
		return errorResult(fmt.Sprintf("declined: the user did not confirm %s. Nothing changed. Do not retry unless the user asks for it.", c.op.Name)), "declined"
	}
	if !clientElicits(ctx, req) {
		if h.confirm.AllowWithoutElicitation {
			return nil, ""
		}
		return errorResult(fmt.Sprintf("refused: %s needs a human's confirmation (--confirm %s), and this MCP client cannot ask for it (no elicitation support). Nothing changed. "+
			"Use a client that supports elicitation, or the operator can set --confirm-fallback allow.", c.op.Name, h.confirm.Mode)), "refused"
	}
	q := server.NewInputRequestBuilder("").Elicit(confirmID, mcp.ElicitationParams{
		Message: h.confirmMessage(ctx, c, args),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{"type": "boolean", "title": "Go ahead", "default": false},
			},
			"required": []string{"confirm"},
		},
	})
	return q.ToolResult(), "confirming"
}

// clientElicits: whether the client declared elicitation, per request (2026-07-28 on) or in
// its session (earlier versions).
func clientElicits(ctx context.Context, req mcp.CallToolRequest) bool {
	if req.Params.Meta != nil {
		if caps := req.Params.Meta.ClientCapabilities(); caps != nil {
			return caps.Elicitation != nil
		}
	}
	s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	return ok && s.GetClientCapabilities().Elicitation != nil
}

// confirmMessage names the object by its fetched name, so the human knows what they approve.
func (h *Handler) confirmMessage(ctx context.Context, c *call, args map[string]any) string {
	id := stringArg(args, "id")
	var b strings.Builder
	b.WriteString(c.op.Title)
	switch c.op.Toolset {
	case "api-keys":
		// A create names its key and role in the arguments; a delete by the fetched key.
		name, roleID := stringArg(args, "name"), stringArg(args, "role-id")
		if id != "" {
			b.WriteString(" " + id)
			if key := h.getObject(ctx, "get-api-key", "/api-key/"+url.PathEscape(id)); key != nil {
				name, roleID = stringArg(key, "name"), stringArg(key, "role-id")
			}
		}
		if name != "" {
			fmt.Fprintf(&b, " '%s'", name)
		}
		if roleID != "" {
			if role := h.getObject(ctx, "get-iam-role", "/iam-role/"+url.PathEscape(roleID)); role != nil {
				fmt.Fprintf(&b, " (role '%s')", stringArg(role, "name"))
			}
		}
	case "ai-api-keys":
		h.describeObject(&b, ctx, "get-ai-api-key", "/ai/api-key/", id, args)
	case "iam-roles":
		h.describeObject(&b, ctx, "get-iam-role", "/iam-role/", id, args)
	}
	b.WriteString("?")
	if c.op.Destructive() {
		b.WriteString(" This cannot be undone.")
	}
	return b.String()
}

// describeObject names the object: by its fetched name, or for a create by the name given.
func (h *Handler) describeObject(b *strings.Builder, ctx context.Context, operation, prefix, id string, args map[string]any) {
	if id == "" {
		if name := stringArg(args, "name"); name != "" {
			fmt.Fprintf(b, " '%s'", name)
		}
		return
	}
	b.WriteString(" " + id)
	if obj := h.getObject(ctx, operation, prefix+url.PathEscape(id)); obj != nil {
		fmt.Fprintf(b, " '%s'", stringArg(obj, "name"))
	}
}
