package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

const restrictedSchema = `{"type":"object","properties":{
"name":{"type":"string","minLength":1,"maxLength":191,"description":"key name"},
"operations":{"type":"array","items":{"type":"string"},"description":"operationIds to allow, e.g. list-zones"},
"services":{"type":"array","items":{"type":"string"},"description":"service classes to allow whole, e.g. dns"},
"zones":{"type":"array","items":{"type":"string"},"description":"allow only in these zones"},
"role-name":{"type":"string","minLength":1,"maxLength":191,"description":"default: name"},
"description":{"type":"string"},
"reuse-role":{"type":"boolean","description":"use an existing role with exactly this policy"},
"include-get-operation":{"type":"boolean","description":"default true"},
"dry-run":{"type":"boolean"}},
"required":["name"],"additionalProperties":false}`

func (w *workflows) restrictedTool() tools.Tool {
	t := tools.Tool{
		Name: CreateRestrictedKey, Title: "Create a restricted IAM API key", Toolset: "api-keys",
		Description: "Create a key allowed only the given operations and/or services: builds and checks the policy, creates the role, then the key; secret delivered as create-api-key's.",
		InputSchema: compact(restrictedSchema),
		Annotations: tools.Annotations{OpenWorld: true},
		Access:      schemas.Create,
	}
	return validated(t, w.createRestricted)
}

func (w *workflows) createRestricted(ctx context.Context, args map[string]any) (tools.Result, error) {
	const tool = CreateRestrictedKey
	name := str(args, "name")
	r := policy.Restriction{Operations: strings_(args, "operations"), Services: strings_(args, "services"), Zones: strings_(args, "zones")}
	if len(r.Operations) == 0 && len(r.Services) == 0 {
		return tools.Failure(tools.Invalid, tool+": give operations, services or both: the key would be allowed nothing."+w.listOperationsHint()+" Nothing was sent."), nil
	}
	p, err := policy.Restrict(r)
	if err != nil {
		return w.restrictionInvalid(tool, err), nil
	}
	var notes []string
	if boolArg(args, "include-get-operation", true) {
		if async := asyncAllowed(p); len(async) > 0 && policy.Evaluate(nil, p, policy.Request{Operation: getOperation}).Outcome != policy.Allow {
			r.Operations = append(r.Operations, getOperation)
			if p, err = policy.Restrict(r); err != nil {
				return tools.Result{}, fmt.Errorf("workflows: adding get-operation: %w", err)
			}
			notes = append(notes, "get-operation was added: "+asyncPhrase(async)+" with an asynchronous operation, and without get-operation the key could not query its result (include-get-operation:false leaves it out)")
		}
	}
	problems := policy.Check(p)
	if policy.HasErrors(problems) {
		return tools.Failure(tools.Invalid, fmt.Sprintf("%s: the policy built from these arguments has errors: %s. Nothing was sent.", tool, problemList(problems))), nil
	}
	for _, pr := range problems {
		notes = append(notes, pr.String())
	}
	plan := keyPlan{
		tool: tool, keyName: name, policy: p, reuse: boolArg(args, "reuse-role", false),
		roleName: cmpOr(str(args, "role-name"), name), description: str(args, "description"),
		args: args, notes: notes,
		confirm: fmt.Sprintf("Create IAM role '%s' allowing only %s, and IAM API key '%s' on it?", cmpOr(str(args, "role-name"), name), allowedSummary(r), name),
	}
	return w.roleThenKey(ctx, plan)
}

const getOperation = "get-operation"

// asyncAllowed lists the operations p allows (or may allow) that answer with an asynchronous
// operation.
func asyncAllowed(p *policy.Policy) []string {
	var out []string
	for _, op := range schemas.AllOperations() {
		if op.Async && policy.Evaluate(nil, p, policy.Request{Operation: op.Name}).Outcome != policy.Deny {
			out = append(out, op.Name)
		}
	}
	return out
}

func allowedSummary(r policy.Restriction) string {
	var parts []string
	if len(r.Operations) > 0 {
		parts = append(parts, strings.Join(r.Operations, ", "))
	}
	if len(r.Services) > 0 {
		parts = append(parts, "the services "+strings.Join(r.Services, ", "))
	}
	s := strings.Join(parts, " and ")
	if len(r.Zones) > 0 {
		s += " in " + strings.Join(r.Zones, ", ")
	}
	return s
}

// asyncPhrase names the operations answering with an asynchronous operation, at most three,
// as the subject of a sentence: "'create-instance' answers", "'a', 'b' and 2 more answer".
func asyncPhrase(async []string) string {
	switch n := len(async); {
	case n == 1:
		return quoteList(async) + " answers"
	case n <= 3:
		return quoteList(async) + " answer"
	default:
		return fmt.Sprintf("%s and %d more answer", quoteList(async[:3]), n-3)
	}
}

// restrictionInvalid is the answer to operations, services or zones a policy cannot be built
// from, as one sentence ("did you mean list-instances?" keeps its question mark).
func (w *workflows) restrictionInvalid(tool string, err error) tools.Result {
	msg := err.Error()
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") {
		msg += "."
	}
	list := ""
	if w.e.Serves(listOperations) {
		list = "; " + listOperations + " lists the operations and their services"
	}
	return tools.Failure(tools.Invalid, fmt.Sprintf("%s: %s Nothing was sent%s.", tool, msg, list))
}

// listOperations is the IAM policy tool that lists the operations a policy can name.
const listOperations = "list-iam-operations"

// listOperationsHint is a sentence pointing to listOperations, or "" when it is not served.
func (w *workflows) listOperationsHint() string {
	if !w.e.Serves(listOperations) {
		return ""
	}
	return " " + listOperations + " lists the operations."
}

func problemList(ps []policy.Problem) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, "; ")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// keyPlan is a key on a role with a given policy: an existing role (reuse, or roleID set) or a
// new one.
type keyPlan struct {
	tool        string
	keyName     string
	roleID      string // use this role as it is (clone without changes)
	roleName    string
	description string
	policy      *policy.Policy
	reuse       bool // look for a role whose policy is exactly policy
	args        map[string]any
	notes       []string
	confirm     string
	extra       map[string]any // more fields for the result
}

// roleThenKey runs a keyPlan: find or create the role, then create the key on it; when the
// key cannot be created, the role this call created is deleted.
func (w *workflows) roleThenKey(ctx context.Context, kp keyPlan) (tools.Result, error) {
	dry := boolArg(kp.args, schemas.ParamDryRun, false)
	reused := ""
	if kp.roleID == "" && kp.reuse {
		id, res, err := w.equivalentRole(ctx, kp.policy)
		if err != nil || res != nil {
			return *res, err
		}
		reused = id
	}
	roleID := cmpOr(kp.roleID, reused)
	policyArg, err := policyArgs(kp.policy)
	if err != nil {
		return tools.Result{}, err
	}
	roleArgs := map[string]any{"name": kp.roleName, "policy": policyArg}
	if kp.description != "" {
		roleArgs["description"] = kp.description
	}
	out := map[string]any{}
	for k, v := range kp.extra {
		out[k] = v
	}
	if kp.policy != nil {
		out["policy"] = kp.policy
	}
	if len(kp.notes) > 0 {
		out["notes"] = kp.notes
	}

	// A taken key name would only show after the role is made: check it first.
	if res, taken, err := w.keyNameTaken(ctx, kp.tool, kp.keyName); err != nil || taken {
		return res, err
	}

	if dry {
		var steps []step
		if roleID == "" {
			s, err := w.call(ctx, "create-iam-role", withDryRun(roleArgs))
			if err != nil {
				return tools.Result{}, err
			}
			if s.res.Outcome != tools.DryRun {
				return notDryRun(kp.tool, s), nil
			}
			steps = append(steps, s)
		} else {
			out["role"] = map[string]any{"id": roleID, "created": false}
		}
		s, err := w.call(ctx, "create-api-key", withDryRun(map[string]any{"name": kp.keyName, "role-id": cmpOr(roleID, placeholderRoleID)}))
		if err != nil {
			return tools.Result{}, err
		}
		if s.res.Outcome != tools.DryRun {
			return notDryRun(kp.tool, s), nil
		}
		return dryRunResult(out, append(steps, s)...)
	}

	planSteps := []string{"create-api-key"}
	if roleID == "" {
		planSteps = []string{"create-iam-role", "create-api-key"}
	}
	ctx, res, stop, err := w.e.ConfirmPlan(ctx, kp.tool, kp.args, planSteps, kp.confirm)
	if err != nil || stop {
		return res, err
	}

	created := false
	if roleID == "" {
		s, err := w.call(ctx, "create-iam-role", roleArgs)
		if err != nil {
			return tools.Result{}, err
		}
		if !s.ok() {
			return failed(kp.tool, s, "creating the role", "No key was created. If the role name is taken, give another role-name, or reuse-role:true to use a role whose policy is exactly this one."), nil
		}
		roleID, created = str(s.obj, "id"), true
		if roleID == "" {
			return tools.Failure(tools.Failed, kp.tool+": the role was created but its answer names no id; "+w.rolesShown()+". No key was created."), nil
		}
		out["role"] = map[string]any{"id": roleID, "name": kp.roleName, "created": true}
	} else {
		role := map[string]any{"id": roleID, "created": false}
		if reused != "" {
			role["reused"] = "its policy is exactly the requested one"
		}
		out["role"] = role
	}

	k, err := w.call(ctx, "create-api-key", map[string]any{"name": kp.keyName, "role-id": roleID})
	if err != nil {
		return tools.Result{}, err
	}
	if !k.ok() {
		after := "No key was created."
		if created {
			d, err := w.e.Undo(ctx, "delete-iam-role", map[string]any{"id": roleID})
			if err != nil {
				return tools.Result{}, err
			}
			if d.Outcome == tools.OK {
				after = fmt.Sprintf("No key was created, and the role %s this call created was deleted: nothing is left behind.", roleID)
			} else {
				after = fmt.Sprintf("No key was created. The role %s this call created could not be deleted (%s): %s.", roleID, d.Text,
					w.callAdvice("delete-iam-role", map[string]any{"id": roleID}, "the user can delete it in the Exoscale portal"))
			}
		}
		return failed(kp.tool, k, "creating the key", after), nil
	}
	for key, v := range k.obj {
		out[key] = v
	}
	return tools.ValueResult(tools.OK, out, k.res.Note)
}

// keyNameTaken refuses, before anything is created, a key name an IAM key already has.
func (w *workflows) keyNameTaken(ctx context.Context, tool, name string) (tools.Result, bool, error) {
	s, err := w.call(ctx, "list-api-keys", nil)
	if err != nil || !s.ok() {
		if err == nil {
			return failed(tool, s, "checking whether the key name is taken", "Nothing was created."), true, nil
		}
		return tools.Result{}, true, err
	}
	for _, k := range items(s.obj, "api-keys") {
		if str(k, "name") == name {
			return tools.Failure(tools.Refused, fmt.Sprintf("refused: %s: the key name %q is already taken by %s. Nothing was created. Pick another name%s.", tool, name, str(k, "key"), w.orRotate())), true, nil
		}
	}
	return tools.Result{}, false, nil
}

// equivalentRole finds a role whose policy decides like p (policy.Equivalent). A nil result
// means the search ran (id "" when no role matches).
func (w *workflows) equivalentRole(ctx context.Context, p *policy.Policy) (string, *tools.Result, error) {
	s, err := w.call(ctx, "list-iam-roles", nil)
	if err != nil {
		return "", &tools.Result{}, err
	}
	if !s.ok() {
		r := failed(CreateRestrictedKey, s, "looking for a role to reuse", "Nothing was created.")
		return "", &r, nil
	}
	roles := items(s.obj, "iam-roles")
	slices.SortStableFunc(roles, func(a, b map[string]any) int { return strings.Compare(str(a, "name"), str(b, "name")) })
	for _, role := range roles {
		rp, err := rolePolicy(role)
		if err != nil {
			continue
		}
		if policy.Equivalent(rp, p) {
			return str(role, "id"), nil, nil
		}
	}
	return "", nil, nil
}

func withDryRun(args map[string]any) map[string]any {
	out := map[string]any{schemas.ParamDryRun: true}
	for k, v := range args {
		out[k] = v
	}
	return out
}

// rolesShown says where the model or the user finds a role the call created.
func (w *workflows) rolesShown() string {
	const list = "list-iam-roles"
	if w.e.Serves(list) {
		return list + " shows it"
	}
	return "the user can find it in the Exoscale portal"
}

// orRotate ends "Pick another name" with the rotation of the existing key, when it is served.
func (w *workflows) orRotate() string {
	if !w.e.Serves(RotateKey) {
		return ""
	}
	return ", or " + RotateKey + " that key"
}
