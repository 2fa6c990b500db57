package tools

import (
	"context"
	"fmt"
	"regexp"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
)

var signatureField = regexp.MustCompile(`signature=[^,]*`)

// dryRun answers with the exact request the call would send, signature masked, and sends
// nothing.
func (h *Handler) dryRun(ctx context.Context, r apiclient.Request) *mcp.CallToolResult {
	req, err := h.client.BuildHTTPRequest(ctx, r)
	if err != nil {
		return errorResult(fmt.Sprintf("%s: dry run: building the request failed: %v", r.Operation, err))
	}
	out := map[string]any{
		"dry-run": true,
		"method":  req.Method,
		"url":     req.URL.String(),
	}
	if auth := req.Header.Get("Authorization"); auth != "" {
		out["authorization"] = signatureField.ReplaceAllString(auth, "signature=***")
	}
	if r.Body != nil {
		body, err := decodeObject(r.Body)
		if err != nil {
			return errorResult(fmt.Sprintf("%s: dry run: %v", r.Operation, err))
		}
		out["body"] = body
	}
	return structuredResult(out, "Dry run: validated and guarded; nothing was sent. This is the request a call without dry-run sends:")
}
