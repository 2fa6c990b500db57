package tools

import (
	"context"
	"fmt"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// Seams for composite tools (package tools/workflows): one confirmation for a whole plan,
// what the server acts as, and the secret files of a key this server wrote.

type planConfirmedKey struct{}

// planConfirmed reports whether ctx carries a confirmation of the composite plan its calls
// belong to. Only ConfirmPlan sets it; a transport cannot (the context is the server's).
func planConfirmed(ctx context.Context) bool {
	ok, _ := ctx.Value(planConfirmedKey{}).(bool)
	return ok
}

// ConfirmPlan asks the human once for a composite tool's whole plan, when any of steps (the
// catalog operations the plan will call) needs a confirmation under the configured mode, and
// refuses the plan when one of its changes is an operation the operator does not serve. A
// composite that asked per step would stop half-way (a role made, its key not) each time the
// human is asked.
//
// It answers like a step: stop is true with a Result (NeedsInput with a question sealed for
// this tool and these arguments, Declined, or Refused when the client cannot ask) that the
// composite returns as it is. When the plan may go on, the returned context carries the
// confirmation: calls made with it skip their own confirmation stage.
func (e *Engine) ConfirmPlan(ctx context.Context, tool string, args map[string]any, steps []string, message string) (_ context.Context, res Result, stop bool, err error) {
	var needed *schemas.Operation
	for _, s := range steps {
		spec, ok := e.ops[s]
		if !ok {
			return ctx, Result{}, true, fmt.Errorf("tools: plan of %s: no catalog operation %q", tool, s)
		}
		// A plan with a change the operator does not serve stops before its first step, so
		// that it never stops half-way for that reason (the engine refuses such a step too).
		if spec.op.Access != schemas.Read && !e.Serves(s) {
			return ctx, fail(Refused, "refused: %s needs %s, which this server does not serve (the operator's --read-only, --toolsets, --tools or --exclude-tools). Nothing was sent; the user can make this change in the Exoscale portal.", tool, s), true, nil
		}
	}
	for _, s := range steps {
		spec := e.ops[s]
		if e.confirm.needed(&spec.op) {
			needed = &spec.op
			break
		}
	}
	if needed == nil || planConfirmed(ctx) {
		return ctx, Result{}, false, nil
	}
	digest, err := argsDigest(args)
	if err != nil {
		return ctx, Result{}, true, err
	}
	res, stop, err = e.confirmation(ctx, PeerFrom(ctx), tool, digest, tool+" calls "+needed.Name+", which", func() string { return message })
	if err != nil || stop {
		return ctx, res, true, err
	}
	return context.WithValue(ctx, planConfirmedKey{}, true), Result{}, false, nil
}

// Identity is what the server acts as and how it is set up, for get-server-identity.
type Identity struct {
	// Key is the IAM key that signs this call: the tenant's in multi-tenant mode, else the
	// server's own.
	Key             string
	Tenant          bool
	Endpoint        string
	SecretDelivery  DeliveryMode
	SecretsDir      string
	Confirm         ConfirmMode
	ConfirmFallback string // deny | allow
	SelfLockout     bool   // --allow-self-lockout
}

// Identity returns what the server acts as for ctx's calls. It does no I/O.
func (e *Engine) Identity(ctx context.Context) Identity {
	creds := e.ownCredentials(ctx)
	_, tenant := apiclient.CredentialsFrom(ctx)
	id := Identity{
		Key: creds.Key, Tenant: tenant, Endpoint: e.client.Endpoint(),
		SecretDelivery: e.secrets.Mode, Confirm: e.confirm.Mode, ConfirmFallback: "deny",
		SelfLockout: e.guards.AllowSelfLockout,
	}
	if id.SecretDelivery == "" {
		id.SecretDelivery = DeliverInline
	}
	if id.SecretDelivery == DeliverFile {
		id.SecretsDir = e.secrets.Dir
	}
	if id.Confirm == "" {
		id.Confirm = ConfirmNone
	}
	if e.confirm.AllowWithoutElicitation {
		id.ConfirmFallback = "allow"
	}
	return id
}

// Undo runs a delete (a catalog operation of access Delete) that removes what the same
// composite call created moments before, such as the role of a key that could not be created.
// It skips the confirmation stage only: the human approved creating the object (or was not
// asked), and undoing it leaves the organization as it was. Every other stage applies.
func (e *Engine) Undo(ctx context.Context, operation string, args map[string]any) (Result, error) {
	spec, ok := e.ops[operation]
	if !ok || spec.op.Access != schemas.Delete {
		return Result{}, fmt.Errorf("tools: Undo: %q is not a catalog delete", operation)
	}
	return e.Call(context.WithValue(ctx, planConfirmedKey{}, true), operation, args)
}
