package tools

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// GuardOptions configure the guards. Only the operator sets them, never a tool argument.
type GuardOptions struct {
	// AllowSelfLockout lets calls through that would delete the server's own key or role, or
	// deny its key the iam service.
	AllowSelfLockout bool
}

// Guarded is what a LockoutChecker is told of a call.
type Guarded struct {
	Operation schemas.Operation
	Args      map[string]any // validated
	ID        string         // the "id" argument
	// Credentials sign the call: the tenant's in multi-tenant mode, else the server's.
	Credentials apiclient.Credentials
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
		refusal, err := e.lockout.CheckLockout(ctx, Guarded{Operation: *c.op, Args: c.args, ID: c.id, Credentials: e.ownCredentials(ctx)})
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

// SelfLockoutGuard is the built-in LockoutChecker: it refuses deleting the server's own key or
// role, a role policy that denies the server's role the iam service, and an organization
// policy that denies it to every key. It reads the role of the signing key once per
// credential; only a successful read is remembered.
type SelfLockoutGuard struct {
	client *apiclient.Client
	log    *slog.Logger

	mu    sync.Mutex
	roles map[[32]byte]string // credential (key and secret) → its key's role id
}

// maxCachedRoles bounds the own-role cache in multi-tenant mode.
const maxCachedRoles = 10000

// NewSelfLockoutGuard returns the built-in self-lockout guard.
func NewSelfLockoutGuard(client *apiclient.Client, log *slog.Logger) *SelfLockoutGuard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SelfLockoutGuard{client: client, log: log, roles: map[[32]byte]string{}}
}

// CheckLockout implements LockoutChecker.
func (g *SelfLockoutGuard) CheckLockout(ctx context.Context, c Guarded) (string, error) {
	lockout := " which would lock this server out of the organization."
	switch c.Operation.Lockout {
	case schemas.LockoutOwnKey:
		// Ids compare case-insensitively: the API does, so "exo…" or an upper-case uuid names
		// the same object.
		if strings.EqualFold(c.ID, c.Credentials.Key) {
			return "the key " + c.ID + " is the one this server signs with," + lockout, nil
		}
	case schemas.LockoutOwnRole, schemas.LockoutOwnRolePolicy:
		if c.Operation.Lockout == schemas.LockoutOwnRolePolicy && !deniesIAM(c.Args) {
			return "", nil
		}
		role, err := g.ownRole(ctx, c.Credentials)
		if err != nil {
			next := "Try again."
			var apiErr *apiclient.Error
			switch {
			case errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden:
				next = "The key may not read itself: the operator can grant that, or lift the guard."
			case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
				next = "The server's key is not an IAM API key that can be read, so its role is unknown: the operator can lift the guard."
			}
			return fmt.Sprintf("could not look up the role of the server's own key to protect it (%v), so this cannot be checked. %s", err, next), nil
		}
		if role == "" || !strings.EqualFold(role, c.ID) {
			return "", nil
		}
		if c.Operation.Lockout == schemas.LockoutOwnRole {
			return "the role " + c.ID + " is the role of the key this server signs with," + lockout, nil
		}
		return "this policy denies the iam service to the role of the key this server signs with," + lockout, nil
	case schemas.LockoutOrgPolicy:
		if deniesIAM(c.Args) {
			return "this organization policy denies the iam service to every key, this server's included," + lockout, nil
		}
	}
	return "", nil
}

// cacheKey keys per-credential state by key and secret together: a tenant presenting another
// tenant's key with a wrong secret must not see what the first one's calls cached.
func cacheKey(c apiclient.Credentials) [32]byte {
	return sha256.Sum256([]byte(c.Key + "\x00" + c.Secret))
}

// ownRole returns the role of the key creds name. A failed read is an error and is not
// remembered: the next call reads again.
func (g *SelfLockoutGuard) ownRole(ctx context.Context, creds apiclient.Credentials) (string, error) {
	ck := cacheKey(creds)
	g.mu.Lock()
	role, ok := g.roles[ck]
	g.mu.Unlock()
	if ok {
		return role, nil
	}
	op, ok := schemas.Lookup(schemas.Self.Lookup)
	if !ok {
		return "", fmt.Errorf("no catalog operation %q", schemas.Self.Lookup)
	}
	r, err := buildRequest(op, nil, map[string]any{"id": creds.Key})
	if err != nil {
		return "", err
	}
	resp, err := g.client.Do(ctx, r)
	if err != nil {
		return "", err
	}
	obj, err := decodeObject(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading the server's own key: %w", err)
	}
	role = stringArg(obj, schemas.Self.RoleField)
	if role == "" {
		return "", errors.New("the server's own key names no role")
	}
	g.mu.Lock()
	if len(g.roles) >= maxCachedRoles {
		clear(g.roles)
	}
	g.roles[ck] = role
	g.mu.Unlock()
	return role, nil
}

// deniesIAM reports whether a policy (flat arguments) denies the iam service: an explicit
// deny, rules of which none allows anything (a rules service that matches no rule denies), or
// a deny default without an iam entry. Rule expressions are not evaluated: a rules entry with
// an allow rule is given the benefit of the doubt.
func deniesIAM(policy map[string]any) bool {
	services, _ := policy["services"].(map[string]any)
	iam, ok := services["iam"].(map[string]any)
	if !ok {
		return policy["default-service-strategy"] == "deny"
	}
	switch iam["type"] {
	case "deny":
		return true
	case "rules":
		rules, _ := iam["rules"].([]any)
		for _, r := range rules {
			if rule, _ := r.(map[string]any); rule["action"] == "allow" {
				return false
			}
		}
		return true
	}
	return false
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
