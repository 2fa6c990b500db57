package tools

import (
	"context"
	"encoding/json"
)

// dryRun answers with the exact request the call would send and sends nothing. The request
// is built unsigned: how it would be signed is said in words, so no authorization line (not
// even a masked one) reaches the model, and a dry run never touches the secret.
func (e *Engine) dryRun(ctx context.Context, c *call) (Result, error) {
	r := c.req
	unsigned := r
	unsigned.Unsigned = true
	req, err := e.client.BuildHTTPRequest(ctx, unsigned)
	if err != nil {
		return fail(Failed, "%s: dry run: building the request failed: %v", r.Operation, err), nil
	}
	out := map[string]any{
		"dry-run": true,
		"method":  req.Method,
		"url":     req.URL.String(),
		"path":    req.URL.EscapedPath(),
		"signing": signingWords(r.Unsigned, c.tenant != ""),
	}
	if len(r.Query) > 0 {
		query := map[string]string{}
		for k := range r.Query {
			query[k] = r.Query.Get(k)
		}
		out["query"] = query
	}
	if r.Body != nil {
		out["body"] = json.RawMessage(r.Body)
	}
	return ValueResult(DryRun, out, "Dry run: validated and guarded; nothing was sent. This is the request a call without dry-run sends:")
}

// signingWords says how a request is signed when it is sent, without any part of a signature.
func signingWords(unsigned, tenant bool) string {
	switch {
	case unsigned:
		return "sent unsigned: this endpoint is public"
	case tenant:
		return "signed when sent with EXO2-HMAC-SHA256 (Exoscale API v2 request signature) by your key (X-Exoscale-Api-Key)"
	default:
		return "signed when sent with EXO2-HMAC-SHA256 (Exoscale API v2 request signature) by the server's key"
	}
}
