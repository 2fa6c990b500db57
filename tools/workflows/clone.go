package workflows

import (
	"context"
	"fmt"
	"slices"

	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

const cloneSchema = `{"type":"object","properties":{
"template":{"type":"string","pattern":"^EXO[0-9A-Za-z]+$","description":"key to copy (EXO...)"},
"name":{"type":"string","minLength":1,"maxLength":191,"description":"new key's name"},
"add-operations":{"type":"array","items":{"type":"string"}},
"remove-operations":{"type":"array","items":{"type":"string"}},
"role-name":{"type":"string","minLength":1,"maxLength":191,"description":"copied role's name; default: name"},
"dry-run":{"type":"boolean"}},
"required":["template","name"],"additionalProperties":false}`

func (w *workflows) cloneTool() tools.Tool {
	t := tools.Tool{
		Name: CloneKey, Title: "Create an IAM API key from a template", Toolset: "api-keys",
		Description: "Use as a Template: a new key on the template key's role. With add-/remove-operations, on a copy of that role with those changes.",
		InputSchema: compact(cloneSchema),
		Annotations: tools.Annotations{OpenWorld: true},
		Access:      schemas.Create,
	}
	return validated(t, w.clone)
}

func (w *workflows) clone(ctx context.Context, args map[string]any) (tools.Result, error) {
	const tool = CloneKey
	name, template := str(args, "name"), str(args, "template")
	add, remove := strings_(args, "add-operations"), strings_(args, "remove-operations")
	for _, op := range append(slices.Clone(add), remove...) {
		if _, ok := schemas.LookupAPIOperation(op); !ok {
			if _, err := policy.Restrict(policy.Restriction{Operations: []string{op}}); err != nil {
				return w.restrictionInvalid(tool, err), nil
			}
		}
	}
	k, err := w.call(ctx, "get-api-key", map[string]any{"id": template})
	if err != nil {
		return tools.Result{}, err
	}
	if !k.ok() {
		return failed(tool, k, "reading the template key", "Nothing was created."), nil
	}
	roleID := str(k.obj, "role-id")
	tmpl := map[string]any{"key": template, "name": str(k.obj, "name"), "role-id": roleID}
	if len(add) == 0 && len(remove) == 0 {
		// Exactly the template's restrictions: the same role, as the portal's Use as a
		// Template does; a copied role would drift from it.
		return w.roleThenKey(ctx, keyPlan{
			tool: tool, keyName: name, roleID: roleID, args: args,
			extra:   map[string]any{"template": tmpl},
			confirm: fmt.Sprintf("Create IAM API key '%s' on the role of '%s' (%s)?", name, str(k.obj, "name"), roleID),
		})
	}
	r, err := w.call(ctx, "get-iam-role", map[string]any{"id": roleID})
	if err != nil {
		return tools.Result{}, err
	}
	if !r.ok() {
		return failed(tool, r, "reading the template's role", "Nothing was created."), nil
	}
	p, err := rolePolicy(r.obj)
	if err != nil {
		return tools.Failure(tools.Failed, fmt.Sprintf("%s: the template's role %s has a policy this server cannot read (%v). Nothing was created.", tool, roleID, err)), nil
	}
	var notes []string
	for _, op := range add {
		if policy.Evaluate(nil, p, policy.Request{Operation: op}).Outcome == policy.Allow {
			notes = append(notes, op+": already allowed by the template's role")
			continue
		}
		fixes, err := policy.Fix(nil, p, policy.Request{Operation: op})
		if err != nil || len(fixes) == 0 {
			return tools.Failure(tools.Invalid, fmt.Sprintf("%s: cannot add %s to the template's policy (%v). Nothing was created.", tool, op, err)), nil
		}
		p = fixes[0].Policy
	}
	for _, op := range remove {
		var changed bool
		if p, changed, err = denyOperation(p, op); err != nil {
			return tools.Failure(tools.Invalid, fmt.Sprintf("%s: cannot remove %s: %v. Nothing was created.", tool, op, err)), nil
		}
		if !changed {
			notes = append(notes, op+": already denied by the template's role")
		}
	}
	if problems := policy.Check(p); policy.HasErrors(problems) {
		return tools.Failure(tools.Invalid, fmt.Sprintf("%s: the changed policy has errors: %s. Nothing was created.", tool, problemList(problems))), nil
	}
	roleName := cmpOr(str(args, "role-name"), name)
	return w.roleThenKey(ctx, keyPlan{
		tool: tool, keyName: name, roleName: roleName, policy: p, args: args, notes: notes,
		description: fmt.Sprintf("copy of role %s (%s) for key %s", str(r.obj, "name"), roleID, name),
		extra:       map[string]any{"template": tmpl},
		confirm:     fmt.Sprintf("Create IAM role '%s' (a copy of '%s' with changes) and IAM API key '%s' on it?", roleName, str(r.obj, "name"), name),
	})
}

// denyOperation returns p changed so that it denies op: a deny rule first in op's service
// entry (a whole-service allow becomes rules: deny op, then allow the rest). It reports
// whether anything changed, and verifies the result with the policy engine.
func denyOperation(p *policy.Policy, op string) (*policy.Policy, bool, error) {
	if policy.Evaluate(nil, p, policy.Request{Operation: op}).Outcome == policy.Deny {
		return p, false, nil
	}
	api, _ := schemas.LookupAPIOperation(op)
	np := p.Clone()
	deny := policy.Rule{Action: policy.StrategyDeny, Expression: fmt.Sprintf("operation == '%s'", op)}
	sp, ok := np.Services[api.Service]
	switch {
	case !ok || sp.Type == policy.TypeAllow:
		np.Services[api.Service] = policy.ServicePolicy{Type: policy.TypeRules, Rules: []policy.Rule{deny, {Action: policy.StrategyAllow, Expression: "true"}}}
	case sp.Type == policy.TypeRules:
		sp.Rules = append([]policy.Rule{deny}, sp.Rules...)
		np.Services[api.Service] = sp
	}
	if d := policy.Evaluate(nil, np, policy.Request{Operation: op}); d.Outcome != policy.Deny {
		return nil, false, fmt.Errorf("the changed policy would still answer %s", d.Outcome)
	}
	return np, true, nil
}
