package tools

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// SelfLockoutGuard is the built-in LockoutChecker. It refuses deleting the server's own key or
// role, and it evaluates IAM policies (package policy) before a change of the server's own
// role policy, of the organization policy, or a reset of it: the change is refused when the
// server's key would no longer be allowed an operation it needs (NeededOperations) in its
// zone, and the refusal names those operations and the rule that takes them.
//
// It fails closed: when the server's key, its role or the organization policy cannot be read,
// the guarded call is refused with the reason. Only the role id of a key is remembered, and
// only from a successful read; policies are read again for every guarded call, since they
// change.
type SelfLockoutGuard struct {
	client *apiclient.Client
	log    *slog.Logger
	zone   string
	// needed is computed on the first guarded call: it reads the catalog of every API
	// operation, which start-up does not need.
	needed func() []string

	mu    sync.Mutex
	roles map[[32]byte]string // credential (key and secret) → its key's role id
}

// maxCachedRoles bounds the own-role cache in multi-tenant mode.
const maxCachedRoles = 10000

// NewSelfLockoutGuard returns the built-in self-lockout guard for a server calling zone (""
// = apiclient.DefaultZone).
func NewSelfLockoutGuard(client *apiclient.Client, log *slog.Logger, zone string) *SelfLockoutGuard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if zone == "" {
		zone = apiclient.DefaultZone
	}
	return &SelfLockoutGuard{client: client, log: log, zone: zone, needed: sync.OnceValue(NeededOperations), roles: map[[32]byte]string{}}
}

// NeededOperations are the operations the server must keep for its own key: every catalog
// operation of the service class schemas.Self.Service (the IAM operations of its tools, which
// composite tools run as their steps too), and schemas.Self.NeedAlso (get-operation, to follow
// its own asynchronous changes). Sorted.
func NeededOperations() []string {
	var out []string
	for _, op := range schemas.Catalog() {
		if api, ok := schemas.LookupAPIOperation(op.Name); ok && api.Service == schemas.Self.Service {
			out = append(out, op.Name)
		}
	}
	for _, n := range schemas.Self.NeedAlso {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

const lockedOut = " which would lock this server out of the organization."

// CheckLockout implements LockoutChecker.
func (g *SelfLockoutGuard) CheckLockout(ctx context.Context, c Guarded) (string, error) {
	switch c.Operation.Lockout {
	case schemas.LockoutOwnKey:
		// Ids compare case-insensitively: the API does, so "exo…" or an upper-case uuid names
		// the same object.
		if strings.EqualFold(c.ID, c.Credentials.Key) {
			return "the key " + c.ID + " is the one this server signs with," + lockedOut, nil
		}
		return "", nil
	case schemas.LockoutOwnRole, schemas.LockoutOwnRolePolicy, schemas.LockoutOrgPolicy, schemas.LockoutOrgReset:
	default:
		return "", nil
	}

	role, err := g.ownRole(ctx, c.Credentials)
	if err != nil {
		return cannotRead("the role of the server's own key", err), nil
	}
	switch c.Operation.Lockout {
	case schemas.LockoutOwnRole:
		if strings.EqualFold(role, c.ID) {
			return "the role " + c.ID + " is the role of the key this server signs with," + lockedOut, nil
		}
		return "", nil
	case schemas.LockoutOwnRolePolicy:
		if !strings.EqualFold(role, c.ID) {
			return "", nil
		}
	}

	rolePolicy, err := g.readRolePolicy(ctx, role)
	if err != nil {
		return cannotRead("the policy of the server's own role "+role, err), nil
	}
	org, err := g.readOrgPolicy(ctx)
	if err != nil {
		return cannotRead("the organization policy", err), nil
	}
	before := policy.Policies{Organization: org, Role: rolePolicy}
	after := before
	what := "this policy"
	switch c.Operation.Lockout {
	case schemas.LockoutOwnRolePolicy:
		if after.Role, err = policyOf(c.Operation, c.Args); err != nil || after.Role == nil {
			return fmt.Sprintf("the new policy cannot be read (%v), so whether it keeps this server's access cannot be told.", err), nil
		}
		what = "this policy of the server's own role " + role
	case schemas.LockoutOrgPolicy:
		if after.Organization, err = policyOf(c.Operation, c.Args); err != nil || after.Organization == nil {
			return fmt.Sprintf("the new organization policy cannot be read (%v), so whether it keeps this server's access cannot be told.", err), nil
		}
		what = "this organization policy"
	case schemas.LockoutOrgReset:
		after.Organization = policy.AllowAll() // Exoscale's default organization policy
		what = "the default organization policy"
	}
	return g.refusal(what, policy.Lost(before, after, g.requests(c.Credentials.Key)), c.Serves), nil
}

// requests are the needed operations as the server's key makes them in its zone.
func (g *SelfLockoutGuard) requests(key string) []policy.Request {
	now := time.Now()
	needed := g.needed()
	out := make([]policy.Request, len(needed))
	for i, op := range needed {
		out[i] = policy.Request{Operation: op, Zone: g.zone, APIKey: key, Now: now}
	}
	return out
}

// refusal names what a change takes away ("" when nothing it had). An operation that was
// already not allowed before the change is not the change's doing and does not refuse it.
func (g *SelfLockoutGuard) refusal(what string, losses []policy.Loss, serves func(string) bool) string {
	byReason := map[string][]string{}
	var reasons []string
	for _, l := range losses {
		if !l.WasAllowed {
			continue
		}
		r := reason(l.After)
		if _, ok := byReason[r]; !ok {
			reasons = append(reasons, r)
		}
		byReason[r] = append(byReason[r], l.Operation)
	}
	if len(reasons) == 0 {
		return ""
	}
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = strings.Join(byReason[r], ", ") + ": " + r
	}
	try := ""
	if serves == nil || serves(schemas.Hints.WhichRule) {
		try = " (" + schemas.Hints.WhichRule + " tries a policy first)"
	}
	return fmt.Sprintf("%s takes from the server's own key operations it needs in zone %s (%s),%s Keep them allowed%s.",
		what, g.zone, strings.Join(parts, "; "), lockedOut, try)
}

// reason says which layer and rule takes an operation away, or what its answer depends on.
func reason(d policy.Decision) string {
	layer := string(d.Layer) + " policy"
	var r string
	switch d.By {
	case policy.ByRule:
		r = fmt.Sprintf("%s services.%s.rules[%d] (%s)", layer, d.Service, d.Rule, truncate(d.Expression, 100))
	case policy.ByNoRule:
		r = fmt.Sprintf("%s services.%s: no rule allows it", layer, d.Service)
	case policy.ByServiceType:
		r = fmt.Sprintf("%s services.%s is type deny", layer, d.Service)
	case policy.ByDefaultStrategy:
		r = fmt.Sprintf("%s default-service-strategy deny (no services.%s entry)", layer, d.Service)
	default:
		r = fmt.Sprintf("%s (%s)", layer, d.By)
	}
	if d.Outcome == policy.Conditional {
		return "would depend on " + strings.Join(d.DependsOn, ", ") + " in the " + r
	}
	return "denied by the " + r
}

// cannotRead is the fail-closed refusal when the guard cannot read what it needs.
func cannotRead(what string, err error) string {
	next := "Try again."
	var apiErr *apiclient.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden:
		next = "The server's key may not read it: the operator can allow that read, or lift the guard."
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
		next = "It was not found (the server's key may not be an IAM API key that can be read): the operator can lift the guard."
	}
	return fmt.Sprintf("could not look up %s to protect this server's access (%v), so this cannot be checked. %s", what, err, next)
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
	obj, err := g.read(ctx, schemas.Self.Lookup, creds.Key)
	if err != nil {
		return "", err
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

// readRolePolicy reads a role's policy; a role without one is nil (Exoscale allows
// everything then).
func (g *SelfLockoutGuard) readRolePolicy(ctx context.Context, role string) (*policy.Policy, error) {
	obj, err := g.read(ctx, schemas.Self.RoleLookup, role)
	if err != nil {
		return nil, err
	}
	raw, ok := obj[schemas.Self.PolicyField]
	if !ok || raw == nil {
		return nil, nil
	}
	return parsePolicyValue(raw)
}

// readOrgPolicy reads the organization policy.
func (g *SelfLockoutGuard) readOrgPolicy(ctx context.Context) (*policy.Policy, error) {
	obj, err := g.read(ctx, schemas.Self.OrgPolicyLookup, "")
	if err != nil {
		return nil, err
	}
	return parsePolicyValue(obj)
}

// read sends a catalog read by id ("" = no id).
func (g *SelfLockoutGuard) read(ctx context.Context, operation, id string) (map[string]any, error) {
	op, ok := schemas.Lookup(operation)
	if !ok {
		return nil, fmt.Errorf("no catalog operation %q", operation)
	}
	args := map[string]any{}
	if id != "" {
		args["id"] = id
	}
	r, err := buildRequest(op, nil, args)
	if err != nil {
		return nil, err
	}
	resp, err := g.client.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	obj, err := decodeObject(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", operation, err)
	}
	return obj, nil
}

// parsePolicyValue parses a policy decoded from an API answer. Exoscale may answer with
// fields this package does not know; those are dropped, not fatal, since the answer is
// Exoscale's own.
func parsePolicyValue(v any) (*policy.Policy, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the policy is not a JSON object")
	}
	keep := map[string]any{}
	for _, k := range []string{"default-service-strategy", "services"} {
		if x, ok := m[k]; ok && x != nil {
			keep[k] = x
		}
	}
	if _, ok := keep["services"]; !ok {
		keep["services"] = map[string]any{}
	}
	raw, err := json.Marshal(keep)
	if err != nil {
		return nil, err
	}
	return policy.Parse(raw)
}
