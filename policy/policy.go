// Package policy reads and evaluates Exoscale IAM policies the way Exoscale documents it: the
// organization policy AND the role policy of the caller; in each, the entry of the request's
// service class or else the default strategy; in a `rules` entry, the rules in order, the first
// whose CEL expression is true deciding, and no rule deciding meaning deny.
//
// What cannot be known when evaluating (the caller's IP, the zone, the parameters, a function
// Exoscale has and this package does not) is a CEL unknown: the answer is then Conditional and
// names what it depends on, never a guess. The package has no MCP import: the tools, the
// self-lockout guard and the workflows call it.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Strategy is the effect of a default-service-strategy or of a rule's action.
type Strategy string

// The strategies and actions.
const (
	StrategyAllow Strategy = "allow"
	StrategyDeny  Strategy = "deny"
)

// ServiceType is how a service entry decides.
type ServiceType string

// The service entry types.
const (
	TypeAllow ServiceType = "allow"
	TypeDeny  ServiceType = "deny"
	TypeRules ServiceType = "rules"
)

// Policy is an Exoscale IAM policy: the `policy` of an IAM role or the organization policy.
type Policy struct {
	DefaultServiceStrategy Strategy                 `json:"default-service-strategy"`
	Services               map[string]ServicePolicy `json:"services"`
}

// ServicePolicy is the entry of one service class.
type ServicePolicy struct {
	Type  ServiceType `json:"type"`
	Rules []Rule      `json:"rules,omitempty"`
}

// Rule is one rule of a `rules` entry. Resources is accepted because the API schema has it, but
// Exoscale no longer honours it (Terraform marks it deprecated) and nothing evaluates it.
type Rule struct {
	Action     Strategy `json:"action"`
	Expression string   `json:"expression"`
	Resources  []string `json:"resources,omitempty"`
}

// AllowAll is the policy Exoscale applies where none is set: a role created without a policy
// and the default organization policy allow everything.
func AllowAll() *Policy {
	return &Policy{DefaultServiceStrategy: StrategyAllow, Services: map[string]ServicePolicy{}}
}

// ParseError says which field of a policy is wrong and what was expected.
type ParseError struct {
	Field   string // "services.iam.rules[0].action"
	Message string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return "policy: " + e.Message
	}
	return "policy: " + e.Field + ": " + e.Message
}

// Parse reads a policy from JSON, strictly: unknown fields, missing required fields and values
// outside the documented enums are errors naming the field. Parse does not judge service names
// or expressions: Check does.
func Parse(data []byte) (*Policy, error) {
	var top map[string]json.RawMessage
	if err := decodeObject(data, "", &top); err != nil {
		return nil, err
	}
	if err := onlyFields(top, "", "default-service-strategy", "services"); err != nil {
		return nil, err
	}
	p := &Policy{Services: map[string]ServicePolicy{}}
	raw, ok := top["default-service-strategy"]
	if !ok {
		return nil, &ParseError{"default-service-strategy", `required: "allow" or "deny"`}
	}
	s, err := decodeEnum(raw, "default-service-strategy", "allow", "deny")
	if err != nil {
		return nil, err
	}
	p.DefaultServiceStrategy = Strategy(s)
	raw, ok = top["services"]
	if !ok {
		return nil, &ParseError{"services", `required: an object of service classes (may be {})`}
	}
	var services map[string]json.RawMessage
	if err := decodeObject(raw, "services", &services); err != nil {
		return nil, err
	}
	for name, raw := range services {
		field := "services." + quoteKey(name)
		sp, err := parseService(raw, field)
		if err != nil {
			return nil, err
		}
		p.Services[name] = sp
	}
	return p, nil
}

func parseService(data []byte, field string) (ServicePolicy, error) {
	var obj map[string]json.RawMessage
	if err := decodeObject(data, field, &obj); err != nil {
		return ServicePolicy{}, err
	}
	if err := onlyFields(obj, field, "type", "rules"); err != nil {
		return ServicePolicy{}, err
	}
	raw, ok := obj["type"]
	if !ok {
		return ServicePolicy{}, &ParseError{field + ".type", `required: "allow", "deny" or "rules"`}
	}
	t, err := decodeEnum(raw, field+".type", "allow", "deny", "rules")
	if err != nil {
		return ServicePolicy{}, err
	}
	sp := ServicePolicy{Type: ServiceType(t)}
	if raw, ok := obj["rules"]; ok && !isNull(raw) {
		var rules []json.RawMessage
		if err := json.Unmarshal(raw, &rules); err != nil {
			return ServicePolicy{}, &ParseError{field + ".rules", "expected an array of rules"}
		}
		for i, r := range rules {
			rule, err := parseRule(r, fmt.Sprintf("%s.rules[%d]", field, i))
			if err != nil {
				return ServicePolicy{}, err
			}
			sp.Rules = append(sp.Rules, rule)
		}
	}
	return sp, nil
}

func parseRule(data []byte, field string) (Rule, error) {
	var obj map[string]json.RawMessage
	if err := decodeObject(data, field, &obj); err != nil {
		return Rule{}, err
	}
	if err := onlyFields(obj, field, "action", "expression", "resources"); err != nil {
		return Rule{}, err
	}
	raw, ok := obj["action"]
	if !ok {
		return Rule{}, &ParseError{field + ".action", `required: "allow" or "deny"`}
	}
	a, err := decodeEnum(raw, field+".action", "allow", "deny")
	if err != nil {
		return Rule{}, err
	}
	r := Rule{Action: Strategy(a)}
	raw, ok = obj["expression"]
	if !ok {
		return Rule{}, &ParseError{field + ".expression", "required: a CEL expression such as \"operation == 'list-zones'\""}
	}
	if err := json.Unmarshal(raw, &r.Expression); err != nil {
		return Rule{}, &ParseError{field + ".expression", "expected a string (a CEL expression)"}
	}
	if raw, ok := obj["resources"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &r.Resources); err != nil {
			return Rule{}, &ParseError{field + ".resources", "expected an array of strings"}
		}
	}
	return r, nil
}

func decodeObject(data []byte, field string, into *map[string]json.RawMessage) error {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || d[0] != '{' {
		return &ParseError{field, "expected a JSON object"}
	}
	if err := json.Unmarshal(d, into); err != nil {
		return &ParseError{field, "invalid JSON: " + err.Error()}
	}
	return nil
}

func onlyFields(obj map[string]json.RawMessage, field string, allowed ...string) error {
	var unknown []string
	for k := range obj {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	f := quoteKey(unknown[0])
	if field != "" {
		f = field + "." + f
	}
	return &ParseError{f, "unknown field; allowed: " + strings.Join(allowed, ", ")}
}

func decodeEnum(raw json.RawMessage, field string, allowed ...string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || !slices.Contains(allowed, s) {
		return "", &ParseError{field, fmt.Sprintf("expected one of %s, got %s", quoteAll(allowed), truncate(string(raw), 40))}
	}
	return s, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// quoteKey shows a service name as typed, quoted when it holds anything but [a-z0-9-], so that
// "iam " is visible as such.
func quoteKey(k string) string {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Sprintf("%q", k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Clone returns a deep copy.
func (p *Policy) Clone() *Policy {
	if p == nil {
		return nil
	}
	c := &Policy{DefaultServiceStrategy: p.DefaultServiceStrategy, Services: make(map[string]ServicePolicy, len(p.Services))}
	for k, sp := range p.Services {
		rules := make([]Rule, len(sp.Rules))
		for i, r := range sp.Rules {
			r.Resources = slices.Clone(r.Resources)
			rules[i] = r
		}
		if sp.Rules == nil {
			rules = nil
		}
		c.Services[k] = ServicePolicy{Type: sp.Type, Rules: rules}
	}
	return c
}

// JSON returns the policy as the API takes it (services always present).
func (p *Policy) JSON() []byte {
	c := p.Clone()
	if c.Services == nil {
		c.Services = map[string]ServicePolicy{}
	}
	b, _ := json.Marshal(c) // plain structs of strings: cannot fail
	return b
}
