package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// Change is the kind of edit a FixProposal makes.
type Change string

// The edits Fix proposes.
const (
	ChangeAddService  Change = "add-service"  // add a rules entry for a service that had none
	ChangeReplaceType Change = "replace-type" // turn a type deny entry into rules
	ChangeInsertRule  Change = "insert-rule"  // insert an allow rule into existing rules
)

// FixProposal is the smallest change to one layer's policy that would allow a denied request.
// Nothing is applied: Policy is the complete new policy, ready for update-iam-role-policy (or
// update-iam-organization-policy when Layer is organization).
type FixProposal struct {
	Layer     Layer   `json:"layer"`
	Service   string  `json:"service"`
	Change    Change  `json:"change"`
	RuleIndex int     `json:"rule-index"` // where Rule goes in services[Service].rules
	Rule      Rule    `json:"rule"`
	Policy    *Policy `json:"policy"`
	Summary   string  `json:"summary"`
}

// Fix proposes, for a request the two policies deny, the smallest change per denying layer
// that would allow it: a rule `operation == '<op>'` inserted just before the rule that denies
// it (or appended when no rule decided), or a rules entry for its service. The role proposal
// comes first; when the organization denies too, its proposal follows (a role change alone
// cannot allow the request then). Each proposal is verified by evaluating the request again.
func (e *Evaluator) Fix(org, role *Policy, req Request) ([]FixProposal, error) {
	d := e.Evaluate(org, role, req)
	if d.Outcome != Deny {
		return nil, fmt.Errorf("%s is %s, not denied: nothing to fix", req.Operation, d.Outcome)
	}
	if d.Service == "" {
		return nil, fmt.Errorf("%s: unknown operation and no service given: cannot tell which service entry to change", req.Operation)
	}
	var out []FixProposal
	for _, l := range []struct {
		layer  Layer
		p      *Policy
		result LayerResult
	}{{LayerRole, role, d.Role}, {LayerOrganization, org, d.Organization}} {
		if l.result.Outcome != Deny {
			continue
		}
		fp, err := e.fixLayer(l.layer, l.p, d.Service, req, l.result)
		if err != nil {
			return nil, err
		}
		out = append(out, fp)
	}
	return out, nil
}

func (e *Evaluator) fixLayer(layer Layer, p *Policy, service string, req Request, res LayerResult) (FixProposal, error) {
	np := p.Clone()
	rule := Rule{Action: StrategyAllow, Expression: fmt.Sprintf("operation == %s", celString(req.Operation))}
	fp := FixProposal{Layer: layer, Service: service, Rule: rule}
	sp, ok := np.Services[service]
	switch {
	case !ok:
		fp.Change, fp.RuleIndex = ChangeAddService, 0
		np.Services[service] = ServicePolicy{Type: TypeRules, Rules: []Rule{rule}}
		fp.Summary = fmt.Sprintf("add services.%s with one rule allowing %s (default-service-strategy %s keeps deciding for other services)", service, req.Operation, np.DefaultServiceStrategy)
	case sp.Type == TypeDeny:
		fp.Change, fp.RuleIndex = ChangeReplaceType, 0
		np.Services[service] = ServicePolicy{Type: TypeRules, Rules: []Rule{rule}}
		fp.Summary = fmt.Sprintf("change services.%s from type deny to rules allowing only %s (everything else in %s stays denied: no rule decides)", service, req.Operation, service)
	case sp.Type == TypeRules:
		at := len(sp.Rules)
		if res.By == ByRule && res.Rule >= 0 {
			at = res.Rule
		}
		// A rule before it whose answer is unknown could still decide first: go before it.
		if first := e.firstUnknownRule(sp.Rules[:at], req, service); first >= 0 {
			at = first
		}
		fp.Change, fp.RuleIndex = ChangeInsertRule, at
		sp.Rules = slices.Insert(slices.Clone(sp.Rules), at, rule)
		np.Services[service] = sp
		fp.Summary = fmt.Sprintf("insert at services.%s.rules[%d] a rule allowing %s", service, at, req.Operation)
	default:
		return FixProposal{}, fmt.Errorf("services.%s: type %q: cannot propose a fix", service, sp.Type)
	}
	fp.Policy = np
	// Verify: the proposal must allow the request in that layer.
	var check Decision
	if layer == LayerRole {
		check = e.Evaluate(nil, np, req)
	} else {
		check = e.Evaluate(np, nil, req)
	}
	if check.Outcome != Allow {
		return FixProposal{}, fmt.Errorf("%s: the proposed change to the %s policy would still answer %s", req.Operation, layer, check.Outcome)
	}
	return fp, nil
}

func (e *Evaluator) firstUnknownRule(rules []Rule, req Request, service string) int {
	vars := req.vars(service, true)
	for i, r := range rules {
		c, err := e.cache.get(r.Expression)
		if err != nil {
			return i
		}
		if res, _, _ := evalRule(c, vars); res == ruleUnknown {
			return i
		}
	}
	return -1
}

// Policies is the pair a request is evaluated against.
type Policies struct {
	Organization *Policy
	Role         *Policy
}

// Loss is a needed request that a change leaves not allowed.
type Loss struct {
	Operation  string   `json:"operation"`
	WasAllowed bool     `json:"was-allowed"`
	Before     Decision `json:"before"`
	// After says which layer and rule takes it away (Deny) or what it depends on (Conditional).
	After Decision `json:"after"`
}

// Lost evaluates every needed request before and after a change and returns those not allowed
// after it, in order: Deny and Conditional both count, as a safety check must fail closed.
// WasAllowed separates what the change takes away from what was already missing.
func (e *Evaluator) Lost(before, after Policies, needed []Request) []Loss {
	var out []Loss
	for _, r := range needed {
		a := e.Evaluate(after.Organization, after.Role, r)
		if a.Outcome == Allow {
			continue
		}
		b := e.Evaluate(before.Organization, before.Role, r)
		out = append(out, Loss{Operation: r.Operation, WasAllowed: b.Outcome == Allow, Before: b, After: a})
	}
	return out
}

// Restriction describes a restricted policy: what it allows, everything else denied.
type Restriction struct {
	// Operations are operationIds to allow; each goes under its catalog service.
	Operations []string
	// Services are service classes to allow whole (or only their reads, with ReadOnly).
	Services []string
	// ReadOnly limits each of Services to its read (GET) operations.
	ReadOnly bool
	// Zones, when set, limit every allowed call to these zones.
	Zones []string
}

// Restrict builds a policy from a Restriction: default deny, and per service a rules entry
// allowing `operation in [...]` (and `zone in [...]` when zones are given), or type allow for a
// whole service without zones. Unknown operations and services are errors naming them.
func Restrict(r Restriction) (*Policy, error) {
	p := &Policy{DefaultServiceStrategy: StrategyDeny, Services: map[string]ServicePolicy{}}
	perService := map[string][]string{}
	for _, name := range r.Operations {
		op, ok := schemas.LookupAPIOperation(name)
		if !ok {
			return nil, fmt.Errorf("operation %s: no such operation%s", name, didYouMean(operationSuggestions(name)))
		}
		perService[op.Service] = appendUnique(perService[op.Service], op.Name)
	}
	whole := map[string]bool{}
	for _, s := range r.Services {
		if _, ok := schemas.LookupService(s); !ok {
			return nil, fmt.Errorf("service %s: not an IAM service class%s", s, didYouMean(serviceSuggestions(s)))
		}
		if r.ReadOnly {
			for _, op := range schemas.OperationsOf(s) {
				if op.Access == schemas.APIRead {
					perService[s] = appendUnique(perService[s], op.Name)
				}
			}
			if len(perService[s]) == 0 {
				return nil, fmt.Errorf("service %s: no read operation in the catalog", s)
			}
			continue
		}
		whole[s] = true
	}
	zone := ""
	if len(r.Zones) > 0 {
		zone = "zone in " + celList(r.Zones)
		if len(r.Zones) == 1 {
			zone = "zone == " + celString(r.Zones[0])
		}
	}
	for s := range whole {
		if zone == "" {
			p.Services[s] = ServicePolicy{Type: TypeAllow}
		} else {
			p.Services[s] = ServicePolicy{Type: TypeRules, Rules: []Rule{{Action: StrategyAllow, Expression: zone}}}
		}
	}
	for s, ops := range perService {
		if whole[s] {
			continue
		}
		sort.Strings(ops)
		expr := "operation in " + celList(ops)
		if len(ops) == 1 {
			expr = "operation == " + celString(ops[0])
		}
		if zone != "" {
			expr += " && " + zone
		}
		p.Services[s] = ServicePolicy{Type: TypeRules, Rules: []Rule{{Action: StrategyAllow, Expression: expr}}}
	}
	if len(p.Services) == 0 {
		return nil, fmt.Errorf("restriction allows nothing: give operations or services")
	}
	return p, nil
}

// Equivalent reports whether two policies decide every request the same way by their
// structure: same default strategy, and for every service the same effective entry (a missing
// entry is the default strategy; rules compared by action and expression, ignoring formatting;
// rules under type allow/deny and resources ignored, as Exoscale ignores them). nil is AllowAll.
// It may answer false for policies that are equivalent by logic but written differently.
func Equivalent(a, b *Policy) bool {
	if a == nil {
		a = AllowAll()
	}
	if b == nil {
		b = AllowAll()
	}
	if a.DefaultServiceStrategy != b.DefaultServiceStrategy {
		return false
	}
	keys := map[string]bool{}
	for k := range a.Services {
		keys[k] = true
	}
	for k := range b.Services {
		keys[k] = true
	}
	for k := range keys {
		if effective(a, k) != effective(b, k) {
			return false
		}
	}
	return true
}

func effective(p *Policy, service string) string {
	sp, ok := p.Services[service]
	if !ok {
		return string(p.DefaultServiceStrategy)
	}
	if sp.Type != TypeRules {
		return string(sp.Type)
	}
	var sb strings.Builder
	sb.WriteString("rules")
	for _, r := range sp.Rules {
		sb.WriteString("\x00")
		sb.WriteString(string(r.Action))
		sb.WriteString("\x01")
		sb.WriteString(canonical(r.Expression))
	}
	return sb.String()
}

// celString quotes s as a CEL string literal.
func celString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func celList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = celString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Fix proposes fixes with the process-wide Evaluator; see (*Evaluator).Fix.
func Fix(org, role *Policy, req Request) ([]FixProposal, error) {
	return defaultEvaluator.Fix(org, role, req)
}

// Lost compares with the process-wide Evaluator; see (*Evaluator).Lost.
func Lost(before, after Policies, needed []Request) []Loss {
	return defaultEvaluator.Lost(before, after, needed)
}

// Simulate answers many requests with the process-wide Evaluator.
func Simulate(org, role *Policy, reqs []Request) []Decision {
	return defaultEvaluator.Simulate(org, role, reqs)
}
