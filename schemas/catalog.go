// Package schemas is the operation catalog of exoscale-keys-mcp: one entry per Exoscale API
// operation the server exposes as an MCP tool, with its HTTP shape (method, path, parameters),
// access class, input and output JSON Schema, secret response fields and whether it returns an
// asynchronous operation.
//
// The catalog is data, not code: the schemas are embedded JSON files (operations/<name>.json,
// {"input": ..., "output": ...}) and the rest is the small table below, so adding an operation
// is adding an entry and every tool is served by one generic handler. The package does not
// depend on any MCP library, so the MCP layer stays a replaceable adapter.
//
// Schemas are JSON Schema 2020-12 written without the "$schema" keyword: they are shown to the
// model on every tools/list, where that keyword only costs tokens; the validator compiles them
// as 2020-12 explicitly.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Access classifies what an operation does, which decides its MCP annotations, whether it is
// exposed in read-only mode and whether a human confirmation may be asked for.
type Access string

// The access classes. Reveal is separate from Read because its result is a secret: read-only
// mode must not expose it even though it changes nothing.
const (
	Read    Access = "read"    // GET, no secret in result
	Reveal  Access = "reveal"  // GET that returns a secret (reveal-*)
	Create  Access = "create"  // POST that creates an object
	Update  Access = "update"  // PUT/PATCH that changes an object in place
	Replace Access = "replace" // PUT that replaces a whole policy (destructive)
	Delete  Access = "delete"  // DELETE of an object (destructive)
	Rotate  Access = "rotate"  // rotate-ai-api-key (destructive, returns secret)
	Reset   Access = "reset"   // reset-iam-organization-policy (destructive)
)

// Local arguments: ours, never sent upstream.
const (
	// ParamDryRun makes a tool that changes something validate and show its request instead
	// of sending it.
	ParamDryRun = "dry-run"
	// ParamAllowDuplicateName lets a create go ahead although an object with that name exists.
	ParamAllowDuplicateName = "allow-duplicate-name"
)

// Operation is one catalog entry: an Exoscale API operation and the MCP tool that serves it.
type Operation struct {
	Name        string   // operationId = tool name
	Title       string   // human title
	Toolset     string   // api-keys | ai-api-keys | iam-roles | iam-org-policy | ai-deployments | operations
	Method      string   // HTTP method
	Path        string   // "/api-key/{id}", "/iam-role/{id}:policy" (below /v2)
	Access      Access   // what the operation does
	PathParams  []string // ["id"]
	QueryParams []string // ["visibility"]
	LocalParams []string // arguments of ours, never sent upstream: "dry-run" (every non-read tool), "allow-duplicate-name" (the 3 creates)
	Secrets     []string // top-level response fields that are secrets: "secret", "value", "api-key"
	Async       bool     // returns an operation object
	Unsigned    bool     // list-zones

	// Behaviour the engine reads instead of switching on names (see behaviour.go).

	// Public lists, for a secret-bearing operation, the result fields that may be shown: the
	// result is built from this allow-list, anything else is withheld with the secrets.
	Public []string
	// SecretFile describes the file the secrets are written to.
	SecretFile *SecretFile
	// SecretNote is said with a secret shown inline ("" = a generic note).
	SecretNote string
	// FetchAfter reads the object an asynchronous operation references, by "id", and the call
	// answers with it (create-iam-role answers with the role).
	FetchAfter string
	// AtLeastOne lists arguments of which at least one must be given.
	AtLeastOne []string
	// Duplicate is a create's duplicate-name lookup.
	Duplicate *Duplicate
	// Lockout says how the operation could lock the server out.
	Lockout Lockout
	// InUse, for a delete that Exoscale refuses while other objects still refer to the
	// object, finds those objects so the refusal can name them.
	InUse *InUse
	// Policy says which arguments carry an IAM policy to check before sending (nil = none).
	Policy *PolicyArgs
	// AfterUnknown is the advice after a failure that may have been applied anyway ("" = the
	// engine's default for the access class).
	AfterUnknown string
	// ArrayField, for an operation that answers with a bare JSON array (list-events), names
	// the field the array is put under: a tool result is a JSON object.
	ArrayField string

	Description string // model-facing
	// InputSchema is the tool's input: path, query and local parameters plus the request body's
	// properties, flat; JSON Schema 2020-12 (no "$schema" keyword), compact, type object,
	// additionalProperties false.
	InputSchema json.RawMessage
	// ValidationSchema is what Validate checks the arguments against when it differs from
	// InputSchema (empty otherwise): the full shape of a policy, whose deep nesting would cost
	// the model hundreds of tokens on every tools/list, while InputSchema states it in one line.
	// Both have the same top-level properties and required list (a test holds them to it).
	ValidationSchema json.RawMessage
	// OutputSchema describes the tool's result (type object). It is lenient on purpose (no
	// additionalProperties false, no required secret fields) so that real responses, which may
	// gain fields, and results whose secret was moved elsewhere still conform.
	OutputSchema json.RawMessage
}

// ReadOnly reports whether the operation leaves everything unchanged: every GET.
func (o Operation) ReadOnly() bool { return o.Method == "GET" }

// Idempotent reports whether repeating the call has no further effect, per the HTTP contract:
// GET, PUT and DELETE. POST and PATCH are not (RFC 9110, RFC 5789), matching the API client,
// which retries only what is idempotent.
func (o Operation) Idempotent() bool {
	switch o.Method {
	case "GET", "PUT", "DELETE":
		return true
	}
	return false
}

// Destructive reports whether the operation may irreversibly lose something: deleting an
// object, replacing a whole policy, rotating a key value, resetting the organization policy.
func (o Operation) Destructive() bool {
	switch o.Access {
	case Delete, Replace, Rotate, Reset:
		return true
	}
	return false
}

// BodyParams returns the input schema's properties that go into the request body, in schema
// order: every property that is not a path, query or local parameter. Nil when the request has
// no body.
//
// It parses the input schema: callers on a hot path compute it once per operation.
func (o Operation) BodyParams() []string {
	nodes, err := indexSchema(o.InputSchema)
	if err != nil {
		return nil
	}
	var body []string
	for _, p := range nodes[""].properties {
		if !slices.Contains(o.PathParams, p) && !slices.Contains(o.QueryParams, p) && !slices.Contains(o.LocalParams, p) {
			body = append(body, p)
		}
	}
	return body
}

// Toolsets are the groups tools can be enabled by, in catalog order.
var Toolsets = []string{"api-keys", "ai-api-keys", "iam-roles", "iam-org-policy", "ai-deployments", "operations", "iam-audit"}

//go:embed operations/*.json
var operationFiles embed.FS

var (
	id         = []string{"id"}
	dryRun     = []string{ParamDryRun}
	createArgs = []string{ParamDryRun, ParamAllowDuplicateName}
)

// table is the catalog without its schemas, which come from operations/<Name>.json.
// Descriptions are for a model: what the tool does, what is irreversible, what to call first.
// Each argument's description lives in the input schema.
var table = []Operation{
	// IAM API keys
	{Name: "list-api-keys", Title: "List IAM API keys", Toolset: "api-keys", Method: "GET", Path: "/api-key", Access: Read,
		Description: "List the organization's IAM API keys: key, name, role-id. Secrets are never listed."},
	{Name: "get-api-key", Title: "Get an IAM API key", Toolset: "api-keys", Method: "GET", Path: "/api-key/{id}", Access: Read, PathParams: id,
		Description: "Get one IAM API key: its name and the role it acts as."},
	{Name: "create-api-key", Title: "Create an IAM API key", Toolset: "api-keys", Method: "POST", Path: "/api-key", Access: Create, LocalParams: createArgs, Secrets: []string{"secret"},
		Public: []string{"key", "name", "role-id"}, SecretFile: iamKeyFile,
		SecretNote:  "This result holds the IAM API secret: Exoscale shows it once, never again. Store it now.",
		Duplicate:   &Duplicate{List: "list-api-keys", Field: "api-keys", NameField: "name", IDField: "key"},
		Description: "Create an IAM API key acting as a role. Its secret is delivered once, never again; the result says where. For a restricted key, first create-iam-role with a policy."},
	{Name: "delete-api-key", Title: "Delete an IAM API key", Toolset: "api-keys", Method: "DELETE", Path: "/api-key/{id}", Access: Delete, PathParams: id, LocalParams: dryRun, Async: true, Lockout: LockoutOwnKey,
		Description: "Delete an IAM API key. Irreversible: whatever uses it loses access."},

	// AI API keys
	{Name: "list-ai-api-keys", Title: "List AI API keys", Toolset: "ai-api-keys", Method: "GET", Path: "/ai/api-key", Access: Read,
		Description: "List AI API keys (id, name, scope) without their values."},
	{Name: "get-ai-api-key", Title: "Get an AI API key", Toolset: "ai-api-keys", Method: "GET", Path: "/ai/api-key/{id}", Access: Read, PathParams: id,
		Description: "Get one AI API key's name and scope, without its value."},
	{Name: "create-ai-api-key", Title: "Create an AI API key", Toolset: "ai-api-keys", Method: "POST", Path: "/ai/api-key", Access: Create, LocalParams: createArgs, Secrets: []string{"value"},
		Public: []string{"id", "org-uuid", "name", "scope", "created-at", "updated-at"}, SecretFile: aiKeyFile,
		Duplicate:   &Duplicate{List: "list-ai-api-keys", Field: "ai-api-keys", NameField: "name", IDField: "id"},
		Description: "Create an API key for AI deployments; the result says where its value is."},
	{Name: "update-ai-api-key", Title: "Update an AI API key", Toolset: "ai-api-keys", Method: "PATCH", Path: "/ai/api-key/{id}", Access: Update, PathParams: id, LocalParams: dryRun, AtLeastOne: []string{"name", "scope"},
		Description: "Rename an AI API key or change its scope: give name, scope or both."},
	{Name: "delete-ai-api-key", Title: "Delete an AI API key", Toolset: "ai-api-keys", Method: "DELETE", Path: "/ai/api-key/{id}", Access: Delete, PathParams: id, LocalParams: dryRun, Async: true,
		Description: "Delete an AI API key. Irreversible: its value stops working."},
	{Name: "rotate-ai-api-key", Title: "Rotate an AI API key", Toolset: "ai-api-keys", Method: "POST", Path: "/ai/api-key/{id}/rotate", Access: Rotate, PathParams: id, LocalParams: dryRun, Secrets: []string{"value"}, SecretFile: aiKeyFile,
		AfterUnknown: "The key may have been rotated anyway: reveal-ai-api-key shows the current value; do not rotate again blindly.",
		Description:  "Give an AI API key a new value; the result says where it is. The old value stops working at once."},
	{Name: "reveal-ai-api-key", Title: "Reveal an AI API key", Toolset: "ai-api-keys", Method: "GET", Path: "/ai/api-key/{id}/reveal", Access: Reveal, PathParams: id, Secrets: []string{"value"}, SecretFile: aiKeyFile,
		Description: "Get an AI API key's current value (a secret); the result says where it is."},

	// IAM roles
	{Name: "list-iam-roles", Title: "List IAM roles", Toolset: "iam-roles", Method: "GET", Path: "/iam-role", Access: Read,
		Description: "List IAM roles with their policies."},
	{Name: "get-iam-role", Title: "Get an IAM role", Toolset: "iam-roles", Method: "GET", Path: "/iam-role/{id}", Access: Read, PathParams: id,
		Description: "Get one IAM role with its policy."},
	{Name: "create-iam-role", Title: "Create an IAM role", Toolset: "iam-roles", Method: "POST", Path: "/iam-role", Access: Create, LocalParams: createArgs, Async: true, FetchAfter: "get-iam-role", Policy: createRolePolicy,
		Duplicate:   &Duplicate{List: "list-iam-roles", Field: "iam-roles", NameField: "name", IDField: "id"},
		Description: "Create an IAM role. Restricted key: a deny-by-default policy, then create-api-key on the role."},
	{Name: "update-iam-role", Title: "Update an IAM role", Toolset: "iam-roles", Method: "PUT", Path: "/iam-role/{id}", Access: Update, PathParams: id, LocalParams: dryRun, Async: true, Policy: updateRolePolicy,
		AtLeastOne:  []string{"description", "labels", "max-session-ttl", "permissions", "assume-role-policy"},
		Description: "Change an IAM role's description, labels, session TTL, permissions or assume-role-policy. For its policy use update-iam-role-policy."},
	{Name: "update-iam-role-policy", Title: "Replace an IAM role's policy", Toolset: "iam-roles", Method: "PUT", Path: "/iam-role/{id}:policy", Access: Replace, PathParams: id, LocalParams: dryRun, Async: true, Lockout: LockoutOwnRolePolicy, Policy: flatPolicy,
		Description: "Replace an IAM role's whole policy (no merge; read it with get-iam-role). Applies at once to every key on the role."},
	{Name: "delete-iam-role", Title: "Delete an IAM role", Toolset: "iam-roles", Method: "DELETE", Path: "/iam-role/{id}", Access: Delete, PathParams: id, LocalParams: dryRun, Async: true, Lockout: LockoutOwnRole,
		InUse: &InUse{List: "list-api-keys", Field: "api-keys", RefField: "role-id", NameField: "name", IDField: "key", What: "API keys",
			Advice: "A key's role cannot be changed: delete those keys (delete-api-key) or replace each with a key on another role (create-api-key), then delete the role."},
		Description: "Delete an IAM role. Irreversible."},
	{Name: "assume-iam-role", Title: "Assume an IAM role", Toolset: "iam-roles", Method: "POST", Path: "/iam-role/{id}/assume", Access: Create, PathParams: id, LocalParams: dryRun, Secrets: []string{"secret"},
		Public: []string{"key", "name", "org-id", "role-id", "expires-at"}, SecretFile: iamKeyFile,
		SecretNote:  "This result holds a short-lived IAM secret, valid until expires-at. Store it now.",
		Description: "Get short-lived credentials acting as an IAM role for ttl seconds; the secret is delivered like create-api-key's, expires-at says until when."},

	// Organization policy
	{Name: "get-iam-organization-policy", Title: "Get the organization policy", Toolset: "iam-org-policy", Method: "GET", Path: "/iam-organization-policy", Access: Read,
		Description: "Get the organization policy, which every key's calls must pass besides its role's."},
	{Name: "update-iam-organization-policy", Title: "Replace the organization policy", Toolset: "iam-org-policy", Method: "PUT", Path: "/iam-organization-policy", Access: Replace, LocalParams: dryRun, Async: true, Lockout: LockoutOrgPolicy, Policy: flatPolicy,
		Description: "Replace the whole organization policy, applied to every key. A wrong one locks out all keys; read it first with get-iam-organization-policy."},
	{Name: "reset-iam-organization-policy", Title: "Reset the organization policy", Toolset: "iam-org-policy", Method: "POST", Path: "/iam-organization-policy:reset", Access: Reset, LocalParams: dryRun, Async: true, Lockout: LockoutOrgReset,
		Description: "Reset the organization policy to its default, discarding the current one."},

	// AI deployments
	{Name: "list-deployments", Title: "List AI deployments", Toolset: "ai-deployments", Method: "GET", Path: "/ai/deployment", Access: Read, QueryParams: []string{"visibility"},
		Description: "List AI deployments (id, name, state, URL, model), e.g. to scope an AI API key."},
	{Name: "get-deployment", Title: "Get an AI deployment", Toolset: "ai-deployments", Method: "GET", Path: "/ai/deployment/{id}", Access: Read, PathParams: id,
		Description: "Get one AI deployment."},
	{Name: "reveal-deployment-api-key", Title: "Reveal a deployment's API key", Toolset: "ai-deployments", Method: "GET", Path: "/ai/deployment/{id}/api-key", Access: Reveal, PathParams: id, Secrets: []string{"api-key"}, SecretFile: deploymentKeyFile,
		Description: "Get an AI deployment's own API key (a secret); the result says where it is."},

	// Helpers
	{Name: "get-operation", Title: "Get an asynchronous operation", Toolset: "operations", Method: "GET", Path: "/operation/{id}", Access: Read, PathParams: id,
		Description: "Get an asynchronous operation's state. Tools already wait for their own."},
	{Name: "list-zones", Title: "List zones", Toolset: "operations", Method: "GET", Path: "/zone", Access: Read, Unsigned: true,
		Description: "List Exoscale zones and their API endpoints."},

	// Audit
	{Name: "list-events", Title: "List audit events", Toolset: "iam-audit", Method: "GET", Path: "/event", Access: Read, QueryParams: []string{"from", "to"}, ArrayField: "events",
		Description: "List the organization's audit events (changes only, never reads): who (key, user, role) called which operation when. Default window: the last 24 h."},
	{Name: "list-users", Title: "List users", Toolset: "iam-audit", Method: "GET", Path: "/user", Access: Read,
		Description: "List the organization's users: email, role, SSO, two-factor authentication, pending invitation."},
	{Name: "get-organization", Title: "Get the organization", Toolset: "iam-audit", Method: "GET", Path: "/organization", Access: Read,
		Description: "Get the organization's id, name, address and currency."},
}

// catalog is the loaded table, built on first use so that start-up does no work.
type catalog struct {
	ops    []Operation
	byName map[string]int
}

var loadCatalog = sync.OnceValue(func() *catalog {
	c, err := buildCatalog(table, operationFiles)
	if err != nil {
		// The files are embedded at build time and checked by the tests: only a broken
		// build gets here.
		panic(err)
	}
	return c
})

// buildCatalog joins the table with its schema files and sorts it by toolset, then name.
func buildCatalog(entries []Operation, files embed.FS) (*catalog, error) {
	ops := make([]Operation, 0, len(entries))
	for _, e := range entries {
		raw, err := files.ReadFile("operations/" + e.Name + ".json")
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", e.Name, err)
		}
		var f struct{ Input, Validate, Output json.RawMessage }
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", e.Name, err)
		}
		if len(f.Input) == 0 || len(f.Output) == 0 {
			return nil, fmt.Errorf("schemas: %s: input and output schemas are both required", e.Name)
		}
		// Compact: what tools/list sends is what the budget measures.
		var in, out bytes.Buffer
		if err := json.Compact(&in, f.Input); err != nil {
			return nil, fmt.Errorf("schemas: %s input: %w", e.Name, err)
		}
		if err := json.Compact(&out, f.Output); err != nil {
			return nil, fmt.Errorf("schemas: %s output: %w", e.Name, err)
		}
		e.InputSchema, e.OutputSchema = in.Bytes(), out.Bytes()
		if len(f.Validate) > 0 {
			var v bytes.Buffer
			if err := json.Compact(&v, f.Validate); err != nil {
				return nil, fmt.Errorf("schemas: %s validate: %w", e.Name, err)
			}
			e.ValidationSchema = v.Bytes()
		}
		ops = append(ops, e)
	}
	slices.SortStableFunc(ops, func(a, b Operation) int {
		if d := slices.Index(Toolsets, a.Toolset) - slices.Index(Toolsets, b.Toolset); d != 0 {
			return d
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	byName := make(map[string]int, len(ops))
	for i, op := range ops {
		if _, dup := byName[op.Name]; dup {
			return nil, fmt.Errorf("schemas: %s listed twice", op.Name)
		}
		byName[op.Name] = i
	}
	return &catalog{ops: ops, byName: byName}, nil
}

// Catalog returns the operations, ordered by toolset (in Toolsets order) then name. The result
// is the caller's own copy: changing it does not change the catalog.
func Catalog() []Operation {
	c := loadCatalog()
	out := make([]Operation, len(c.ops))
	for i, op := range c.ops {
		out[i] = op.clone()
	}
	return out
}

// Has reports whether name is a catalog operation, without copying it as Lookup does.
func Has(name string) bool {
	_, ok := loadCatalog().byName[name]
	return ok
}

// Lookup returns the operation named name (its operationId), or false.
func Lookup(name string) (Operation, bool) {
	c := loadCatalog()
	i, ok := c.byName[name]
	if !ok {
		return Operation{}, false
	}
	return c.ops[i].clone(), true
}

// clone deep-copies the slices so that callers cannot alter the shared catalog.
func (o Operation) clone() Operation {
	o.PathParams = slices.Clone(o.PathParams)
	o.QueryParams = slices.Clone(o.QueryParams)
	o.LocalParams = slices.Clone(o.LocalParams)
	o.Secrets = slices.Clone(o.Secrets)
	o.Public = slices.Clone(o.Public)
	o.AtLeastOne = slices.Clone(o.AtLeastOne)
	o.InputSchema = slices.Clone(o.InputSchema)
	o.ValidationSchema = slices.Clone(o.ValidationSchema)
	o.OutputSchema = slices.Clone(o.OutputSchema)
	o.Duplicate = clonePtr(o.Duplicate)
	o.InUse = clonePtr(o.InUse)
	o.Policy = clonePtr(o.Policy)
	if o.SecretFile != nil {
		f := *o.SecretFile
		f.Vars = slices.Clone(f.Vars)
		if f.BaseURL != nil {
			b := *f.BaseURL
			b.Ignore = slices.Clone(b.Ignore)
			f.BaseURL = &b
		}
		o.SecretFile = &f
	}
	return o
}

// clonePtr copies what p points to (nil stays nil); for structs without slices or pointers.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
