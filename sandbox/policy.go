package sandbox

import (
	"strings"
)

// policy is an iam-policy document (role policy or organization policy). Once compiled and
// published it is never mutated: updates replace the whole value, so request handling can
// evaluate a policy outside the state lock.
type policy struct {
	DefaultServiceStrategy string                   `json:"default-service-strategy"`
	Services               map[string]servicePolicy `json:"services"`

	compiled map[string]compiledService
}

type servicePolicy struct {
	Type  string       `json:"type"`
	Rules []policyRule `json:"rules,omitempty"`
}

type policyRule struct {
	Action     string   `json:"action"`
	Expression string   `json:"expression"`
	Resources  []string `json:"resources,omitempty"`
}

type assumeRolePolicy struct {
	Rules []policyRule `json:"rules"`
}

type compiledService struct {
	typ   string // allow | deny | rules
	rules []compiledRule
}

type compiledRule struct {
	allow bool
	ops   map[string]bool // operations the expression matches; nil: the expression never matches
}

// allowAllPolicy is the policy of a role created without one, and the reset organization policy.
func allowAllPolicy() *policy {
	p := &policy{DefaultServiceStrategy: "allow", Services: map[string]servicePolicy{}}
	p.compile()
	return p
}

// compile prepares the rules for evaluation; call it before publishing p.
func (p *policy) compile() {
	if p.Services == nil {
		p.Services = map[string]servicePolicy{}
	}
	p.compiled = make(map[string]compiledService, len(p.Services))
	for name, sp := range p.Services {
		cs := compiledService{typ: sp.Type}
		for _, r := range sp.Rules {
			cs.rules = append(cs.rules, compiledRule{allow: r.Action == "allow", ops: parseOperationExpression(r.Expression)})
		}
		p.compiled[name] = cs
	}
}

// allows reports whether p lets operation op of service through (API.md §2): a service listed
// with type allow or deny decides by itself; a "rules" service takes the first rule whose
// expression matches and denies when none does; an unlisted service gets the default strategy.
func (p *policy) allows(service, op string) bool {
	cs, ok := p.compiled[service]
	if !ok {
		return p.DefaultServiceStrategy == "allow"
	}
	switch cs.typ {
	case "allow":
		return true
	case "rules":
		for _, r := range cs.rules {
			if r.ops[op] {
				return r.allow
			}
		}
	}
	return false
}

// parseOperationExpression understands the CEL subset the sandbox enforces:
//
//	operation == 'name'
//	operation in ['a', 'b']
//
// with single or double quotes and free spacing. Anything else returns nil, which never matches:
// the sandbox would rather under-match a rule than grant access the real API would refuse.
func parseOperationExpression(expr string) map[string]bool {
	p := exprParser{s: expr}
	p.space()
	if !p.word("operation") {
		return nil
	}
	p.space()
	ops := map[string]bool{}
	switch {
	case p.literal("=="):
		p.space()
		name, ok := p.str()
		if !ok {
			return nil
		}
		ops[name] = true
	case p.word("in"):
		p.space()
		if !p.literal("[") {
			return nil
		}
		for {
			p.space()
			name, ok := p.str()
			if !ok {
				return nil
			}
			ops[name] = true
			p.space()
			if p.literal("]") {
				break
			}
			if !p.literal(",") {
				return nil
			}
		}
	default:
		return nil
	}
	p.space()
	if p.i != len(p.s) {
		return nil
	}
	return ops
}

type exprParser struct {
	s string
	i int
}

func (p *exprParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *exprParser) literal(l string) bool {
	if strings.HasPrefix(p.s[p.i:], l) {
		p.i += len(l)
		return true
	}
	return false
}

// word matches an identifier that is not the prefix of a longer one ("in" but not "inx").
func (p *exprParser) word(w string) bool {
	if !strings.HasPrefix(p.s[p.i:], w) {
		return false
	}
	end := p.i + len(w)
	if end < len(p.s) {
		c := p.s[end]
		if c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			return false
		}
	}
	p.i = end
	return true
}

// str reads a quoted string without escapes (operation names never need them).
func (p *exprParser) str() (string, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '\'' && p.s[p.i] != '"' {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", false
	}
	p.i += end + 2
	return v, true
}
