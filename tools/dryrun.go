package tools

import (
	"context"
	"encoding/json"
	"regexp"
)

var signatureField = regexp.MustCompile(`signature=[^,]*`)

// dryRun answers with the exact request the call would send, signature masked, and sends
// nothing.
func (e *Engine) dryRun(ctx context.Context, c *call) (Result, error) {
	r := c.req
	req, err := e.client.BuildHTTPRequest(ctx, r)
	if err != nil {
		return fail(Failed, "%s: dry run: building the request failed: %v", r.Operation, err), nil
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
		out["body"] = json.RawMessage(r.Body)
	}
	return ValueResult(DryRun, out, "Dry run: validated and guarded; nothing was sent. This is the request a call without dry-run sends:")
}
