package schemas

// Per-operation behaviour, as data. The engine (package tools) runs the same stages for every
// operation and reads what differs from here: it holds no operation name of its own, so adding
// an operation never means editing the engine.

// ToolsetInfo is what the engine needs to know about a toolset.
type ToolsetInfo struct {
	Name string
	// ListTool is the tool that shows the toolset's objects ("" when there is none): the next
	// step after a 404 or a create whose outcome is unknown.
	ListTool string
	// ListHint says what ListTool shows, for a model: "list-api-keys shows the IAM API keys".
	ListHint string
	// NameLookup reads one object by its "id", so a confirmation question can name it by
	// its "name" ("" = the question names only what the arguments say).
	NameLookup string
	// RoleLookup reads the role named by "role-id" (in the arguments or the looked-up object),
	// so the question says which role a key acts as.
	RoleLookup string
}

// toolsetInfo is in Toolsets order.
var toolsetInfo = []ToolsetInfo{
	{Name: "api-keys", ListTool: "list-api-keys", ListHint: "list-api-keys shows the IAM API keys", NameLookup: "get-api-key", RoleLookup: "get-iam-role"},
	{Name: "ai-api-keys", ListTool: "list-ai-api-keys", ListHint: "list-ai-api-keys shows the AI API keys", NameLookup: "get-ai-api-key"},
	{Name: "iam-roles", ListTool: "list-iam-roles", ListHint: "list-iam-roles shows the roles", NameLookup: "get-iam-role"},
	{Name: "iam-org-policy", ListTool: "get-iam-organization-policy", ListHint: "get-iam-organization-policy shows the policy"},
	{Name: "ai-deployments", ListTool: "list-deployments", ListHint: "list-deployments shows the deployments"},
	{Name: "operations", ListHint: "operation ids come from the results of write tools"},
	{Name: "iam-audit", ListHint: "audit-iam-keys reviews keys, roles and users"},
}

// Toolset returns what the catalog knows of a toolset (a zero value with the name for an
// unknown one).
func Toolset(name string) ToolsetInfo {
	for _, t := range toolsetInfo {
		if t.Name == name {
			return t
		}
	}
	return ToolsetInfo{Name: name}
}

// Lockout says how an operation could lock the server out of its own organization.
type Lockout string

// The lockout rules.
const (
	LockoutNone Lockout = ""
	// LockoutOwnKey: the operation deletes the key named by "id"; refused for the server's key.
	LockoutOwnKey Lockout = "own-key"
	// LockoutOwnRole: the operation deletes the role named by "id"; refused for the role of the
	// server's key.
	LockoutOwnRole Lockout = "own-role"
	// LockoutOwnRolePolicy: the operation replaces the policy of the role named by "id";
	// refused when that is the server's role and the new policy denies the iam service.
	LockoutOwnRolePolicy Lockout = "own-role-policy"
	// LockoutOrgPolicy: the operation replaces the organization policy; refused when the new
	// policy takes from the server's key an operation it needs.
	LockoutOrgPolicy Lockout = "org-policy"
	// LockoutOrgReset: the operation resets the organization policy to Exoscale's default
	// (everything allowed); checked like LockoutOrgPolicy against that default.
	LockoutOrgReset Lockout = "org-reset"
)

// PolicyArgs says where an operation's arguments carry an IAM policy, so the engine checks it
// (CEL that compiles, known services and operations) before anything is sent.
type PolicyArgs struct {
	// Flat: the policy's fields (default-service-strategy, services) are the arguments
	// themselves, as update-iam-role-policy takes them.
	Flat bool
	// Field is the argument holding a whole policy ("" = none).
	Field string
	// AssumeRole is the argument holding an assume-role policy ({"rules": [...]}, "" = none).
	AssumeRole string
}

var (
	flatPolicy       = &PolicyArgs{Flat: true}
	createRolePolicy = &PolicyArgs{Field: "policy", AssumeRole: "assume-role-policy"}
	updateRolePolicy = &PolicyArgs{AssumeRole: "assume-role-policy"}
)

// Duplicate is a create's duplicate-name lookup: where the existing objects are listed and
// which fields name and identify them.
type Duplicate struct {
	List      string // the list operation
	Field     string // the list result's array field
	NameField string // the field compared with the "name" argument
	IDField   string // the field that identifies an object in the refusal
}

// InUse finds the objects that still refer to an object a delete was refused for: List's
// array Field, the entries whose RefField is the deleted id, named by NameField and IDField.
type InUse struct {
	List, Field, RefField, NameField, IDField string
	What                                      string // "API keys"
	Advice                                    string // what to do about them
}

// SecretFile describes the dotenv file a secret-bearing result is written to.
type SecretFile struct {
	// Vars are the file's variables in order, each filled from a result field.
	Vars []SecretVar
	// Usage tells how to load the file; %s is the file's path.
	Usage string
	// BaseURL, when set, adds the deployment's URL, so the file is all a client needs.
	BaseURL *BaseURL
	// Call, when set with a deployment, is one shell line that calls the deployment with the
	// key read from the file, so the value never passes through the model: %[1]s is the
	// file's path (shell-quoted), %[2]s the deployment's model.
	Call string
}

// SecretVar is one variable of a secret file.
type SecretVar struct {
	Name  string // EXOSCALE_API_SECRET
	Field string // the result field that holds its value
}

// BaseURL finds the URL of the deployment a secret is for: the deployment id comes from the
// argument Arg, or else from the scope (the result's ScopeField, or the object ScopeLookup
// reads by the "id" argument); scopes in Ignore name no deployment.
type BaseURL struct {
	Var         string // OPENAI_BASE_URL
	Arg         string // the argument that is the deployment id ("" = use the scope)
	ScopeField  string
	ScopeLookup string
	Ignore      []string
	Lookup      string // the operation that reads a deployment by "id"
	URLField    string // its field holding the URL
	ModelField  string // its field holding the model: an object with a "name", or a string
}

// Self is how the server reads its own access, for the self-lockout guard: its key (Lookup by
// the key's id, the role in RoleField), that role (RoleLookup by id, its policy in
// PolicyField), and the organization policy (OrgPolicyLookup). Service is the class of the
// operations the server needs to keep; NeedAlso are needed whatever their class.
var Self = struct {
	Lookup, RoleField        string
	RoleLookup, PolicyField  string
	OrgPolicyLookup, Service string
	NeedAlso                 []string
}{
	Lookup: "get-api-key", RoleField: "role-id",
	RoleLookup: "get-iam-role", PolicyField: "policy",
	OrgPolicyLookup: "get-iam-organization-policy", Service: "iam",
	// A key that cannot read operations cannot follow its own changes.
	NeedAlso: []string{"get-operation"},
}

// Hints are tool names that the engine's advice points to. The engine names one only when
// the operator serves it (tools.Engine.SetServed); otherwise it says what the user can do.
var Hints = struct {
	// Operation reads an asynchronous operation by id.
	Operation string
	// GrantInRole says how a permission is granted in a key's role.
	GrantInRole string
	// OrgPolicy shows the organization policy.
	OrgPolicy string
	// NewRole and NewKey make a role and a key on it, when a role cannot be changed.
	NewRole, NewKey string
	// AssumeRolePolicy changes who may assume a role.
	AssumeRolePolicy string
	// WhichRule names the policy rule that decides an operation (a tool of tools/iamtools,
	// not a catalog operation).
	WhichRule string
	// OperationNames lists the operations and services a policy can name (tools/iamtools).
	OperationNames string
}{
	Operation:   "get-operation",
	GrantInRole: "get-iam-role, then update-iam-role-policy",
	OrgPolicy:   "get-iam-organization-policy",
	NewRole:     "create-iam-role",
	NewKey:      "create-api-key",
	// The argument the catalog's update-iam-role takes.
	AssumeRolePolicy: "update-iam-role with assume-role-policy",
	WhichRule:        "check-iam-access",
	OperationNames:   "list-iam-operations",
}

// Lesson is one sentence of the MCP instructions' lesson in the workflow the tools serve. It
// is said only when every tool in Needs is served and none in Unless is, so the instructions
// never name a tool the model cannot call (read-only mode, a toolset filter) and teach the
// shortest way the served tools allow.
type Lesson struct {
	Text          string
	Needs, Unless []string
}

// Workflow is the lesson, the first lines of the MCP instructions, in order. The composite
// tools (tools/workflows) are named here by name: schemas does not import them.
var Workflow = []Lesson{
	{Text: "Manage Exoscale credentials: IAM API keys, AI API keys, IAM roles and policies."},
	{Text: "A restricted key is one call: create-restricted-api-key with name and operations.",
		Needs: []string{"create-restricted-api-key"}},
	{Text: "A restricted key is a role plus a key: create-iam-role with a policy (e.g. default-service-strategy deny and one service of rules), then create-api-key with that role-id.",
		Needs: []string{"create-iam-role", "create-api-key"}, Unless: []string{"create-restricted-api-key"}},
	{Text: "clone-api-key copies a key's restrictions; rotate-api-key replaces a key.",
		Needs: []string{"clone-api-key", "rotate-api-key"}},
	{Text: "Find ids with the list-* tools first."},
}

var (
	iamKeyFile = &SecretFile{
		Vars:  []SecretVar{{"EXOSCALE_API_KEY", "key"}, {"EXOSCALE_API_SECRET", "secret"}},
		Usage: "Load it with `set -a; . %s; set +a`: the exo CLI, Terraform and this server read EXOSCALE_API_KEY and EXOSCALE_API_SECRET.",
	}
	aiKeyFile = &SecretFile{
		Vars:  []SecretVar{{"EXOSCALE_AI_API_KEY", "value"}, {"OPENAI_API_KEY", "value"}},
		Usage: "Load it with `set -a; . %s; set +a`: OpenAI-compatible clients read OPENAI_API_KEY (and OPENAI_BASE_URL when set).",
		BaseURL: &BaseURL{Var: "OPENAI_BASE_URL", ScopeField: "scope", ScopeLookup: "get-ai-api-key", Ignore: []string{"public"},
			Lookup: "get-deployment", URLField: "deployment-url", ModelField: "model"},
		Call: aiCall,
	}
	aiCall = `(. %[1]s; printf 'Authorization: Bearer %%s\n' "$OPENAI_API_KEY" | curl -sS --header @- -H 'Content-Type: application/json' "$OPENAI_BASE_URL/chat/completions" -d '{"model":"%[2]s","messages":[{"role":"user","content":"Hello"}]}')`

	deploymentKeyFile = &SecretFile{
		Vars:    []SecretVar{{"OPENAI_API_KEY", "api-key"}},
		Usage:   aiKeyFile.Usage,
		BaseURL: &BaseURL{Var: "OPENAI_BASE_URL", Arg: "id", Lookup: "get-deployment", URLField: "deployment-url", ModelField: "model"},
		Call:    aiCall,
	}
)
