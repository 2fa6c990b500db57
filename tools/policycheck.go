package tools

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// checkPolicies is the policy-check stage: the IAM policies a call carries (where the
// catalog's PolicyArgs says) are checked with package policy before anything is sent, dry
// runs included. Exoscale skips a rule that does not evaluate to true, so a rule with a typo
// silently allows or denies nothing: an error problem refuses the call (Invalid), naming the
// service, the rule and the problem; warnings go into the result's note.
func (e *Engine) checkPolicies(c *call) (Result, bool) {
	pa := c.op.Policy
	if pa == nil {
		return Result{}, false
	}
	var errs, warns []string
	add := func(where string, ps []policy.Problem) {
		for _, p := range ps {
			line := where + p.String()
			if p.Severity == policy.SeverityError {
				errs = append(errs, line)
			} else {
				warns = append(warns, line)
			}
		}
	}
	if pa.Flat {
		_, ps := policy.CheckJSON(flatPolicyJSON(c.args))
		add("", ps)
	}
	if raw, ok := argJSON(c.args, pa.Field); ok {
		_, ps := policy.CheckJSON(raw)
		add(pa.Field+": ", ps)
	}
	if raw, ok := argJSON(c.args, pa.AssumeRole); ok {
		for _, p := range policy.CheckAssumeRolePolicy(raw) {
			line := fmt.Sprintf("%s: %s", p.Severity, p.Message)
			if !strings.Contains(p.Message, pa.AssumeRole) {
				line = fmt.Sprintf("%s: %s.rules[%d]: %s", p.Severity, pa.AssumeRole, p.Rule, p.Message)
			}
			if p.Severity == policy.SeverityError {
				errs = append(errs, line)
			} else {
				warns = append(warns, line)
			}
		}
	}
	if len(errs) > 0 {
		return fail(Invalid, "%s: the policy would not do what it says (Exoscale skips a rule that does not evaluate to true), so nothing was sent:\n- %s\nFix these and call again%s.",
			c.op.Name, strings.Join(append(errs, warns...), "\n- "), e.policyTools()), true
	}
	if len(warns) > 0 {
		c.warnings = append(c.warnings, "Policy check warnings (the call went on):\n- "+strings.Join(warns, "\n- "))
	}
	return Result{}, false
}

// flatPolicyJSON is the policy of a call whose arguments are the policy's own fields.
func flatPolicyJSON(args map[string]any) []byte {
	p := map[string]any{}
	for _, k := range []string{"default-service-strategy", "services"} {
		if v, ok := args[k]; ok {
			p[k] = v
		}
	}
	b, _ := json.Marshal(p) // validated arguments: plain JSON values
	return b
}

// argJSON returns one argument as JSON; false when the name is empty or the argument absent.
func argJSON(args map[string]any, name string) ([]byte, bool) {
	if name == "" {
		return nil, false
	}
	v, ok := args[name]
	if !ok || v == nil {
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// policyOf returns the policy a call would set, parsed, for the lockout guard: the flat
// arguments or the PolicyArgs field. nil with no error when the call sets none.
func policyOf(op schemas.Operation, args map[string]any) (*policy.Policy, error) {
	if op.Policy == nil {
		return nil, nil
	}
	if op.Policy.Flat {
		return policy.Parse(flatPolicyJSON(args))
	}
	if raw, ok := argJSON(args, op.Policy.Field); ok {
		return policy.Parse(raw)
	}
	return nil, nil
}

// withWarnings adds the call's warnings to the note of a result that went through.
func (c *call) withWarnings(res Result, err error) (Result, error) {
	if err != nil || len(c.warnings) == 0 || (res.Outcome != OK && res.Outcome != DryRun) {
		return res, err
	}
	note := strings.Join(c.warnings, "\n")
	if res.Note != "" {
		note += "\n" + res.Note
	}
	res.Note = note
	return res, nil
}

// policyTools names the served tools that help fix a policy, as the end of a sentence.
func (e *Engine) policyTools() string {
	var say []string
	if e.Serves(schemas.Hints.OperationNames) {
		say = append(say, schemas.Hints.OperationNames+" lists operation names and services")
	}
	if e.Serves(schemas.Hints.WhichRule) {
		say = append(say, schemas.Hints.WhichRule+" tries a policy before it is applied")
	}
	if len(say) == 0 {
		return ""
	}
	return "; " + strings.Join(say, ", ")
}
