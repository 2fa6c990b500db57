package tools

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// GuardOptions configure the guards. Only the operator sets them, never a tool argument.
type GuardOptions struct {
	// AllowSelfLockout lets calls through that would delete the server's own key or role, or
	// deny its key the iam service.
	AllowSelfLockout bool
}

// guards refuse calls that would lock the server out of its own organization, and creates
// that would mint a second object of the same name (a retried create after a lost answer).
type guards struct {
	client *apiclient.Client
	opts   GuardOptions
	log    *slog.Logger

	mu    sync.Mutex
	roles map[[32]byte]string // credential (key and secret) → its key's role id ("" for a key that is not an IAM key)

	namesMu sync.Mutex
	names   map[string]*nameLock // creates under way, by tenant, tool and name
}

// nameLock serialises the creates of one name: check and create happen under it.
type nameLock struct {
	sync.Mutex
	users int // under guards.namesMu
}

// serializeCreate makes two concurrent creates of the same name (a client retrying while the
// first call is still under way) run one after the other, so the second one's duplicate check
// sees the first one's object. It returns the unlock, or nil when the call needs none.
func (g *guards) serializeCreate(ctx context.Context, c *call, args map[string]any) func() {
	if _, ok := duplicateChecks[c.op.Name]; !ok || args[schemas.ParamAllowDuplicateName] == true {
		return nil
	}
	ck := cacheKey(g.ownCredentials(ctx))
	key := string(ck[:]) + "\x00" + c.op.Name + "\x00" + stringArg(args, "name")
	g.namesMu.Lock()
	l, ok := g.names[key]
	if !ok {
		l = &nameLock{}
		g.names[key] = l
	}
	l.users++
	g.namesMu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		g.namesMu.Lock()
		if l.users--; l.users == 0 {
			delete(g.names, key)
		}
		g.namesMu.Unlock()
	}
}

// maxCachedRoles bounds the own-role cache in multi-tenant mode.
const maxCachedRoles = 10000

func newGuards(client *apiclient.Client, opts GuardOptions, log *slog.Logger) *guards {
	return &guards{client: client, opts: opts, log: log, roles: map[[32]byte]string{}, names: map[string]*nameLock{}}
}

// ownCredentials are the credentials that sign this call: the tenant's, or the server's own.
func (g *guards) ownCredentials(ctx context.Context) apiclient.Credentials {
	if c, ok := apiclient.CredentialsFrom(ctx); ok {
		return c
	}
	return g.client.Credentials()
}

func (g *guards) ownKey(ctx context.Context) string { return g.ownCredentials(ctx).Key }

// cacheKey keys per-credential state by key and secret together: a tenant presenting another
// tenant's key with a wrong secret must not see what the first one's calls cached.
func cacheKey(c apiclient.Credentials) [32]byte {
	return sha256.Sum256([]byte(c.Key + "\x00" + c.Secret))
}

// ownRole returns the role of the key that signs this call, looked up once per key. A key
// get-api-key does not know (a personal key) has no role: "".
func (g *guards) ownRole(ctx context.Context) (string, error) {
	creds := g.ownCredentials(ctx)
	ck := cacheKey(creds)
	key := creds.Key
	g.mu.Lock()
	role, ok := g.roles[ck]
	g.mu.Unlock()
	if ok {
		return role, nil
	}
	resp, err := g.client.Do(ctx, apiclient.Request{Operation: "get-api-key", Method: http.MethodGet, Path: "/api-key/" + url.PathEscape(key)})
	var apiErr *apiclient.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
		g.log.Debug("the server's key is not an IAM API key: role guards step aside")
		role = ""
	case err != nil:
		return "", err
	default:
		obj, err := decodeObject(resp.Body)
		if err != nil {
			return "", fmt.Errorf("reading the server's own key: %w", err)
		}
		role = stringArg(obj, "role-id")
	}
	g.mu.Lock()
	if len(g.roles) >= maxCachedRoles {
		clear(g.roles)
	}
	g.roles[ck] = role
	g.mu.Unlock()
	return role, nil
}

// check returns a refusal, or nil to let the call go on.
func (g *guards) check(ctx context.Context, c *call, args map[string]any) *mcp.CallToolResult {
	if res := g.checkLockout(ctx, c, args); res != nil {
		return res
	}
	return g.checkDuplicate(ctx, c, args)
}

func (g *guards) checkLockout(ctx context.Context, c *call, args map[string]any) *mcp.CallToolResult {
	if g.opts.AllowSelfLockout {
		return nil
	}
	id := stringArg(args, "id")
	refuse := func(what string) *mcp.CallToolResult {
		return errorResult(fmt.Sprintf("refused: %s: %s, which would lock this server out of the organization. Nothing was sent. "+
			"Only the operator can lift this guard (--allow-self-lockout); a tool argument cannot.", c.op.Name, what))
	}
	switch c.op.Name {
	case "delete-api-key":
		// Ids compare case-insensitively: the API does, so "exo…" or an upper-case uuid names
		// the same object.
		if strings.EqualFold(id, g.ownKey(ctx)) {
			return refuse("the key " + id + " is the one this server signs with")
		}
	case "delete-iam-role", "update-iam-role-policy":
		if c.op.Name == "update-iam-role-policy" && !deniesIAM(args) {
			return nil
		}
		role, err := g.ownRole(ctx)
		if err != nil {
			next := "Try again."
			var apiErr *apiclient.Error
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden {
				next = "The key may not read itself (get-api-key): the operator can grant that, or lift the guard with --allow-self-lockout."
			}
			return errorResult(fmt.Sprintf("refused: %s: could not look up the role of the server's own key to protect it (%v). Nothing was sent. %s", c.op.Name, err, next))
		}
		if role != "" && strings.EqualFold(role, id) {
			if c.op.Name == "delete-iam-role" {
				return refuse("the role " + id + " is the role of the key this server signs with")
			}
			return refuse("this policy denies the iam service to the role of the key this server signs with")
		}
	case "update-iam-organization-policy":
		if deniesIAM(args) {
			return refuse("this organization policy denies the iam service to every key, this server's included")
		}
	}
	return nil
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

// duplicateChecks: for each create, where its objects are listed and what names them.
var duplicateChecks = map[string]struct{ operation, path, field, idField string }{
	"create-api-key":    {"list-api-keys", "/api-key", "api-keys", "key"},
	"create-ai-api-key": {"list-ai-api-keys", "/ai/api-key", "ai-api-keys", "id"},
	"create-iam-role":   {"list-iam-roles", "/iam-role", "iam-roles", "id"},
}

func (g *guards) checkDuplicate(ctx context.Context, c *call, args map[string]any) *mcp.CallToolResult {
	dc, ok := duplicateChecks[c.op.Name]
	if !ok || args[schemas.ParamAllowDuplicateName] == true {
		return nil
	}
	name := stringArg(args, "name")
	resp, err := g.client.Do(ctx, apiclient.Request{Operation: dc.operation, Method: http.MethodGet, Path: dc.path})
	if err != nil {
		return errorResult(fmt.Sprintf("refused: %s: could not check whether the name %q is taken (%v). Nothing was sent. Call again, or pass \"allow-duplicate-name\": true to skip the check.", c.op.Name, name, err))
	}
	obj, err := decodeObject(resp.Body)
	if err != nil {
		return errorResult(fmt.Sprintf("refused: %s: could not read the list of existing names (%v). Nothing was sent.", c.op.Name, err))
	}
	items, _ := obj[dc.field].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if m != nil && stringArg(m, "name") == name {
			existing := stringArg(m, dc.idField)
			c.touch(existing)
			return errorResult(fmt.Sprintf("refused: %s: the name %q is already taken by %s. Nothing was created: if a previous call's answer was lost, that object is the one it created. "+
				"Use it, pick another name, or pass \"allow-duplicate-name\": true to create a second one.", c.op.Name, name, existing))
		}
	}
	return nil
}
