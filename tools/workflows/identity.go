package workflows

import (
	"context"
	"encoding/json"
	"regexp"

	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

func (w *workflows) identityTool() tools.Tool {
	t := tools.Tool{
		Name: ServerIdentity, Title: "Get the server's identity", Toolset: "iam-audit",
		Description: "Which key and role this server acts as, what that role allows per service, its endpoint, zone, secret delivery and safety settings.",
		InputSchema: compact(`{"type":"object","properties":{},"additionalProperties":false}`),
		Annotations: tools.Annotations{ReadOnly: true, Idempotent: true, OpenWorld: true},
		Access:      schemas.Read,
	}
	return validated(t, func(ctx context.Context, _ map[string]any) (tools.Result, error) { return w.identity(ctx) })
}

var zoneInEndpoint = regexp.MustCompile(`^https://api-([a-z]+-[a-z]+-[0-9]+)\.exoscale\.com/`)

func (w *workflows) identity(ctx context.Context) (tools.Result, error) {
	id := w.e.Identity(ctx)
	key := map[string]any{"id": id.Key}
	out := map[string]any{
		"key":      key,
		"endpoint": id.Endpoint,
		"secret-delivery": map[string]any{
			"mode": id.SecretDelivery, "dir": id.SecretsDir,
		},
		"confirm":            id.Confirm,
		"confirm-fallback":   id.ConfirmFallback,
		"allow-self-lockout": id.SelfLockout,
		"read-only":          w.opts.Filter.ReadOnly,
		"toolsets":           orAll(w.opts.Filter.Toolsets),
		"tools":              orAll(w.opts.Filter.Tools),
		"exclude-tools":      w.opts.Filter.Exclude,
	}
	if id.Tenant {
		out["tenant"] = "the key is the caller's own (multi-tenant): each request brings its credentials"
	}
	if m := zoneInEndpoint.FindStringSubmatch(id.Endpoint); m != nil {
		out["zone"] = m[1]
	}
	// partial answers with what is known, and why the rest is not.
	partial := func(why string) (tools.Result, error) {
		out["unknown"] = []string{why}
		return tools.ValueResult(tools.OK, out, "")
	}
	k, err := w.call(ctx, "get-api-key", map[string]any{"id": id.Key})
	if err != nil {
		return tools.Result{}, err
	}
	if !k.ok() {
		return partial("key name and role: get-api-key of the server's own key failed: " + firstLine(k.res.Text))
	}
	key["name"] = str(k.obj, "name")
	roleID := str(k.obj, "role-id")
	role := map[string]any{"id": roleID}
	out["role"] = role
	r, err := w.call(ctx, "get-iam-role", map[string]any{"id": roleID})
	if err != nil {
		return tools.Result{}, err
	}
	if !r.ok() {
		return partial("role policy: " + firstLine(r.res.Text))
	}
	role["name"] = str(r.obj, "name")
	if perms, ok := r.obj["permissions"].([]any); ok && len(perms) > 0 {
		role["permissions"] = perms
	}
	rp, err := rolePolicy(r.obj)
	if err != nil {
		return partial("what the role allows: its policy cannot be read: " + err.Error())
	}
	var org *policy.Policy
	o, err := w.call(ctx, "get-iam-organization-policy", nil)
	if err != nil {
		return tools.Result{}, err
	}
	if o.ok() {
		if b, err := json.Marshal(o.obj); err == nil {
			org, _ = policy.Parse(b)
		}
	}
	rc := reachOf(org, rp)
	allows := map[string]any{} // a map: encoded with its keys sorted
	for s, sr := range rc.perService {
		if sr.Allowed > 0 || sr.Conditional > 0 {
			allows[s] = sr
		}
	}
	out["allows"] = map[string]any{
		"operations": rc.allowed, "conditional": rc.conditional, "of": rc.total, "everything": rc.all,
		"by-service": allows, "can-mint-keys-or-change-policies": rc.powerful,
	}
	if org == nil {
		out["unknown"] = []string{"the organization policy could not be read: what the role allows is judged by the role policy alone"}
	}
	return tools.ValueResult(tools.OK, out, "")
}

func orAll(ss []string) any {
	if len(ss) == 0 {
		return "all"
	}
	return ss
}
