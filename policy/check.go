package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/internal/nearest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// Severity says whether a problem must stop the policy from being sent.
type Severity string

// The severities. An error means Exoscale would do something the author surely did not mean
// (a rule that never matches, a service key that governs nothing); a warning is worth telling.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Problem is one finding of Check.
type Problem struct {
	Severity Severity `json:"severity"`
	// Service is the key under "services" the problem is about; empty for the whole policy.
	Service string `json:"service,omitempty"`
	// Rule is the index of the rule in that service's rules; -1 when not about one rule.
	Rule    int    `json:"rule"`
	Message string `json:"message"`
}

// String reads as "services.iam.rules[0]: message".
func (p Problem) String() string {
	where := "policy"
	if p.Service != "" {
		where = "services." + quoteKey(p.Service)
		if p.Rule >= 0 {
			where += fmt.Sprintf(".rules[%d]", p.Rule)
		}
	}
	return fmt.Sprintf("%s: %s: %s", p.Severity, where, p.Message)
}

// HasErrors reports whether any problem is an error.
func HasErrors(ps []Problem) bool {
	for _, p := range ps {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

// CheckJSON parses a policy and checks it; a parse error is returned as one error problem.
func CheckJSON(data []byte) (*Policy, []Problem) {
	p, err := Parse(data)
	if err != nil {
		msg := err.Error()
		var pe *ParseError
		if errors.As(err, &pe) {
			msg = strings.TrimPrefix(msg, "policy: ")
		}
		return nil, []Problem{{Severity: SeverityError, Rule: -1, Message: msg}}
	}
	return p, Check(p)
}

// Check finds what would make a policy do something else than its author meant: CEL that does
// not compile, a service key that is not a class, an operation that does not exist or belongs
// to another service, `type: rules` without rules (errors); a rule that can never decide, a
// rule after an always-true one, async operations allowed without get-operation (warnings).
// Problems are sorted by service, then rule.
func Check(p *Policy) []Problem {
	return defaultEvaluator.Check(p)
}

// Check is the package-level Check with this Evaluator's program cache.
func (e *Evaluator) Check(p *Policy) []Problem {
	if p == nil {
		return nil
	}
	var out []Problem
	add := func(sev Severity, svc string, rule int, format string, args ...any) {
		out = append(out, Problem{Severity: sev, Service: svc, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	if p.DefaultServiceStrategy != StrategyAllow && p.DefaultServiceStrategy != StrategyDeny {
		add(SeverityError, "", -1, `default-service-strategy must be "allow" or "deny", got %q`, p.DefaultServiceStrategy)
	}
	keys := make([]string, 0, len(p.Services))
	for k := range p.Services {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		sp := p.Services[key]
		svc, known := schemas.LookupService(key)
		switch {
		case !known:
			add(SeverityError, key, -1, "%s is not an IAM service class%s; classes: %s", quoteKey(key), didYouMean(serviceSuggestions(key)), strings.Join(serviceNames(), ", "))
		case !svc.Documented:
			add(SeverityWarning, key, -1, "no Exoscale source documents the service class %s (this server infers it from the API's tags): check that Exoscale applies this entry", key)
		}
		switch sp.Type {
		case TypeRules:
			if len(sp.Rules) == 0 {
				add(SeverityError, key, -1, `type "rules" without rules denies every %s operation: add rules, or use type "deny"`, key)
			}
		case TypeAllow, TypeDeny:
			if len(sp.Rules) > 0 {
				add(SeverityWarning, key, -1, "type %q ignores its %d rules: use type \"rules\" for them to apply", sp.Type, len(sp.Rules))
			}
			continue
		default:
			add(SeverityError, key, -1, `type must be "allow", "deny" or "rules", got %q`, sp.Type)
			continue
		}
		alwaysTrue := -1
		for i, r := range sp.Rules {
			if alwaysTrue >= 0 {
				add(SeverityWarning, key, i, "comes after rule %d, which is always true: it is never evaluated", alwaysTrue)
			}
			if len(r.Resources) > 0 {
				add(SeverityWarning, key, i, "resources is no longer supported by Exoscale and is ignored; write the condition in the expression (e.g. resources.<type>.name)")
			}
			c, err := e.cache.get(r.Expression)
			if err != nil {
				add(SeverityError, key, i, "cannot check the expression: %v", err)
				continue
			}
			if c.invalid != "" {
				add(SeverityError, key, i, "CEL does not compile (%s): Exoscale skips such a rule", c.invalid)
				continue
			}
			if len(c.undeclared) > 0 {
				add(SeverityError, key, i, "uses %s, not a binding or function of Exoscale policies (bindings: %s; functions: inIpRange, has, CEL's standard ones); quote operation names: operation == 'list-zones'",
					strings.Join(c.undeclared, ", "), strings.Join(Bindings, ", "))
				continue
			}
			if key != "sos" || !known { // SOS rules name S3 operations, not operationIds
				out = append(out, checkOperations(key, known, i, c)...)
			}
			res, _, _ := evalRule(c, map[string]any{BindService: key})
			switch res {
			case ruleTrue:
				if alwaysTrue < 0 {
					alwaysTrue = i
				}
			case ruleNothing:
				add(SeverityWarning, key, i, "%q is never true: this rule never decides", r.Expression)
			}
		}
	}
	out = append(out, e.checkAsync(p)...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

func checkOperations(key string, keyKnown bool, rule int, c *compiled) []Problem {
	var out []Problem
	seen := map[string]bool{}
	for _, ref := range operationNames(c.ast) {
		if seen[ref.Name] {
			continue
		}
		seen[ref.Name] = true
		op, ok := schemas.LookupAPIOperation(ref.Name)
		if !ok {
			out = append(out, Problem{SeverityError, key, rule, fmt.Sprintf("%s: no such operation%s; list-iam-operations lists them", ref.Name, didYouMean(operationSuggestions(ref.Name)))})
			continue
		}
		if !keyKnown || op.Service == key {
			continue
		}
		if op.ServiceInferred {
			out = append(out, Problem{SeverityWarning, key, rule, fmt.Sprintf("%s is filed under %s in this server's catalog (inferred, not documented): under %s this comparison may never match", ref.Name, op.Service, key)})
		} else {
			out = append(out, Problem{SeverityError, key, rule, fmt.Sprintf("%s is an operation of service %s: under %s this comparison never matches it; write it under services.%s", ref.Name, op.Service, key, op.Service)})
		}
	}
	return out
}

// checkAsync warns when the policy allows changes that answer with an asynchronous operation
// but denies get-operation, so that a key on it cannot follow its own changes.
func (e *Evaluator) checkAsync(p *Policy) []Problem {
	getOp := e.Evaluate(nil, p, Request{Operation: "get-operation"})
	if getOp.Outcome != Deny {
		return nil
	}
	var allowed []string
	for _, op := range schemas.AllOperations() {
		if !op.Async {
			continue
		}
		if d := e.Evaluate(nil, p, Request{Operation: op.Name}); d.Outcome != Deny {
			allowed = append(allowed, op.Name)
		}
	}
	if len(allowed) == 0 {
		return nil
	}
	example := strings.Join(allowed[:min(3, len(allowed))], ", ")
	svc := getOp.Service
	if getOp.ServiceInferred {
		svc += ", inferred"
	}
	return []Problem{{Severity: SeverityWarning, Rule: -1, Message: fmt.Sprintf(
		"allows %d operations that answer with an asynchronous operation (%s, ...) but denies get-operation: a key on this policy cannot follow its own changes; allow get-operation (service %s)",
		len(allowed), example, svc)}}
}

func didYouMean(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return ": did you mean " + strings.Join(s, " or ") + "?"
}

func serviceNames() []string {
	var names []string
	for _, s := range schemas.Services() {
		names = append(names, s.Name)
	}
	return names
}

func serviceSuggestions(key string) []string {
	norm := strings.ToLower(strings.TrimSpace(key))
	if _, ok := schemas.LookupService(norm); ok {
		return []string{norm}
	}
	return nearest.Names(norm, serviceNames(), 2, 2)
}

func operationSuggestions(name string) []string {
	return nearest.Names(strings.ToLower(strings.TrimSpace(name)), schemas.APIOperationNames(), max(2, len(name)/4), 3)
}

// CheckAssumeRolePolicy checks the `assume-role-policy` of create-iam-role and update-iam-role
// ({"rules": [{"action", "expression"}]}): the shape, and that each expression compiles. Which
// bindings Exoscale gives these expressions is not documented, so a name this package does not
// declare is a warning here, not an error.
func CheckAssumeRolePolicy(data []byte) []Problem {
	return defaultEvaluator.CheckAssumeRolePolicy(data)
}

// CheckAssumeRolePolicy is the package-level function with this Evaluator's program cache.
func (e *Evaluator) CheckAssumeRolePolicy(data []byte) []Problem {
	const where = "assume-role-policy"
	var obj map[string]json.RawMessage
	if err := decodeObject(data, where, &obj); err != nil {
		return []Problem{{Severity: SeverityError, Rule: -1, Message: strings.TrimPrefix(err.Error(), "policy: ")}}
	}
	if err := onlyFields(obj, where, "rules"); err != nil {
		return []Problem{{Severity: SeverityError, Rule: -1, Message: strings.TrimPrefix(err.Error(), "policy: ")}}
	}
	var raws []json.RawMessage
	if raw, ok := obj["rules"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &raws); err != nil {
			return []Problem{{Severity: SeverityError, Rule: -1, Message: where + ".rules: expected an array of rules"}}
		}
	}
	var out []Problem
	for i, raw := range raws {
		r, err := parseRule(raw, fmt.Sprintf("%s.rules[%d]", where, i))
		if err != nil {
			out = append(out, Problem{Severity: SeverityError, Rule: i, Message: strings.TrimPrefix(err.Error(), "policy: ")})
			continue
		}
		c, err := e.cache.get(r.Expression)
		switch {
		case err != nil:
			out = append(out, Problem{Severity: SeverityError, Rule: i, Message: "cannot check the expression: " + err.Error()})
		case c.invalid != "":
			out = append(out, Problem{Severity: SeverityError, Rule: i, Message: fmt.Sprintf("%s.rules[%d]: CEL does not compile (%s)", where, i, c.invalid)})
		case len(c.undeclared) > 0:
			out = append(out, Problem{Severity: SeverityWarning, Rule: i, Message: fmt.Sprintf("%s.rules[%d]: uses %s, which this server does not know (the bindings of assume-role policies are not documented)", where, i, strings.Join(c.undeclared, ", "))})
		}
	}
	return out
}
