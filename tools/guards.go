package tools

import (
	"context"
	"fmt"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// GuardOptions configure the guards. Only the operator sets them, never a tool argument.
type GuardOptions struct {
	// AllowSelfLockout lets calls through that would delete the server's own key or role, or
	// take from its key an operation it needs.
	AllowSelfLockout bool
	// Zone is the zone the server calls (the zone binding of the policies the guard
	// evaluates); empty means apiclient.DefaultZone.
	Zone string
}

// Guarded is what a LockoutChecker is told of a call.
type Guarded struct {
	Operation schemas.Operation
	Args      map[string]any // validated
	ID        string         // the "id" argument
	// Credentials sign the call: the tenant's in multi-tenant mode, else the server's.
	Credentials apiclient.Credentials
	// Serves says which tools the model can call (Engine.Serves), so a refusal names no
	// other tool (nil = all).
	Serves func(name string) bool
}

// LockoutChecker decides whether a call would lock the server out of its own organization.
// It returns "" to let the call go on, or the refusal: what would be lost and why. It fails
// closed: when it cannot tell, it refuses and says why. An error is a bug.
//
// The built-in checker (NewSelfLockoutGuard) follows the catalog's Lockout rules; a policy
// engine that evaluates IAM policies plugs in here.
type LockoutChecker interface {
	CheckLockout(ctx context.Context, g Guarded) (refusal string, err error)
}

// guard runs the guards: self-lockout, then duplicate names.
func (e *Engine) guard(ctx context.Context, c *call) (Result, bool, error) {
	if !e.guards.AllowSelfLockout && c.op.Lockout != schemas.LockoutNone {
		refusal, err := e.lockout.CheckLockout(ctx, Guarded{Operation: *c.op, Args: c.args, ID: c.id, Credentials: e.ownCredentials(ctx), Serves: e.Serves})
		if err != nil {
			return Result{}, true, fmt.Errorf("tools: lockout check of %s: %w", c.op.Name, err)
		}
		if refusal != "" {
			return fail(Refused, "refused: %s: %s Nothing was sent. Only the operator can lift this guard (--allow-self-lockout); a tool argument cannot.", c.op.Name, refusal), true, nil
		}
	}
	if res, refused := e.checkDuplicate(ctx, c); refused {
		return res, true, nil
	}
	return Result{}, false, nil
}

// checkDuplicate refuses a create whose name is taken (a retried create after a lost answer
// would mint a second key), as the catalog's Duplicate lookup says.
func (e *Engine) checkDuplicate(ctx context.Context, c *call) (Result, bool) {
	dc := c.op.Duplicate
	if dc == nil || c.allowDuplicate {
		return Result{}, false
	}
	obj, err := e.readObject(ctx, dc.List, map[string]any{})
	if err != nil {
		return fail(Refused, "refused: %s: could not check whether the name %q is taken (%v). Nothing was sent. Call again, or pass \"%s\": true to skip the check.",
			c.op.Name, c.name, err, schemas.ParamAllowDuplicateName), true
	}
	items, _ := obj[dc.Field].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m != nil && stringArg(m, dc.NameField) == c.name {
			existing := stringArg(m, dc.IDField)
			c.touch(existing)
			return fail(Refused, "refused: %s: the name %q is already taken by %s. Nothing was created: if a previous call's answer was lost, that object is the one it created. "+
				"Use it, pick another name, or pass \"%s\": true to create a second one.", c.op.Name, c.name, existing, schemas.ParamAllowDuplicateName), true
		}
	}
	return Result{}, false
}

// createLockKey names the lock of one name's creates: per credential, tool and name.
func createLockKey(creds apiclient.Credentials, tool, name string) string {
	ck := cacheKey(creds)
	return string(ck[:]) + "\x00" + tool + "\x00" + name
}
