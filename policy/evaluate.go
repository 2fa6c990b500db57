package policy

import (
	"fmt"
	"sort"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// Outcome is the answer for one request.
type Outcome string

// The outcomes. Conditional means the answer depends on something not known when evaluating
// (DependsOn says what); it is neither an allow nor a deny, and a safety check treats it as a
// deny.
const (
	Allow       Outcome = "allow"
	Deny        Outcome = "deny"
	Conditional Outcome = "conditional"
)

// Layer is one of the two policies a request must pass.
type Layer string

// The layers.
const (
	LayerOrganization Layer = "organization"
	LayerRole         Layer = "role"
)

// DecidedBy says what in a policy decided.
type DecidedBy string

// What can decide within one policy.
const (
	ByRule            DecidedBy = "rule"                     // Rule and Expression say which
	ByServiceType     DecidedBy = "service type"             // the service entry's type allow|deny
	ByDefaultStrategy DecidedBy = "default-service-strategy" // no entry for the service
	ByNoRule          DecidedBy = "no rule decided"          // type rules and no rule was true: deny
	ByNoPolicy        DecidedBy = "no policy"                // no policy at all: Exoscale allows
	ByUnknownService  DecidedBy = "unknown service"          // the request's service class is not known
)

// Request is what is known of one API call. Empty strings, a zero Now and nil maps are unknown
// (CEL unknowns), not empty values: an expression that reads them makes the answer conditional.
type Request struct {
	Operation string
	// Service is the IAM service class; empty means the catalog's class of Operation.
	Service    string
	Zone       string
	APIKey     string
	SourceIP   string
	Now        time.Time
	Parameters map[string]any
	Resources  map[string]any
}

// LayerResult is how one policy answered.
type LayerResult struct {
	Outcome Outcome   `json:"decision"`
	By      DecidedBy `json:"by"`
	// Rule is the index of the deciding rule (ByRule) or of the first rule whose answer is
	// unknown (Conditional); -1 otherwise.
	Rule       int      `json:"rule"`
	Expression string   `json:"expression,omitempty"`
	DependsOn  []string `json:"depends-on,omitempty"`
	// Notes are the rules that concluded nothing because of an error, and the like.
	Notes []string `json:"notes,omitempty"`
}

// Decision is the answer for one request across both layers.
type Decision struct {
	Operation string `json:"operation"`
	Service   string `json:"service"`
	// ServiceInferred is true when no Exoscale source settles the operation's service class.
	ServiceInferred bool    `json:"service-inferred,omitempty"`
	Outcome         Outcome `json:"decision"`
	// Layer is the layer that decided: the first that denies, else the first conditional one,
	// else (both allow) the role.
	Layer        Layer       `json:"layer"`
	By           DecidedBy   `json:"by"`
	Rule         int         `json:"rule"`
	Expression   string      `json:"expression,omitempty"`
	DependsOn    []string    `json:"depends-on,omitempty"`
	Organization LayerResult `json:"organization"`
	Role         LayerResult `json:"role"`
}

// Evaluator evaluates policies. Its compiled CEL programs are cached per expression (bounded),
// and it is safe for concurrent use; one per process is enough.
type Evaluator struct {
	cache *programCache
}

// NewEvaluator returns an Evaluator with its own program cache.
func NewEvaluator() *Evaluator {
	return &Evaluator{cache: newProgramCache(cacheSize)}
}

var defaultEvaluator = NewEvaluator()

// Evaluate answers one request with the process-wide Evaluator.
func Evaluate(org, role *Policy, req Request) Decision {
	return defaultEvaluator.Evaluate(org, role, req)
}

// Evaluate answers one request: org AND role. A nil policy is no policy, which Exoscale treats
// as allowing everything (a role created without one; the default organization policy).
func (e *Evaluator) Evaluate(org, role *Policy, req Request) Decision {
	d := Decision{Operation: req.Operation, Service: req.Service}
	known := req.Service != ""
	if !known {
		d.Service, d.ServiceInferred, known = schemas.ServiceOf(req.Operation)
	}
	vars := req.vars(d.Service, known)
	d.Organization = e.evalLayer(org, d.Service, known, vars)
	d.Role = e.evalLayer(role, d.Service, known, vars)

	o, r := d.Organization, d.Role
	var pick LayerResult
	switch {
	case o.Outcome == Deny:
		d.Layer, pick = LayerOrganization, o
	case r.Outcome == Deny:
		d.Layer, pick = LayerRole, r
	case o.Outcome == Conditional:
		d.Layer, pick = LayerOrganization, o
	case r.Outcome == Conditional:
		d.Layer, pick = LayerRole, r
	default:
		d.Layer, pick = LayerRole, r
	}
	d.Outcome, d.By, d.Rule, d.Expression = pick.Outcome, pick.By, pick.Rule, pick.Expression
	if d.Outcome == Conditional {
		d.DependsOn = mergeNames(o.DependsOn, r.DependsOn)
	}
	return d
}

// Simulate answers many requests against the same two policies.
func (e *Evaluator) Simulate(org, role *Policy, reqs []Request) []Decision {
	out := make([]Decision, len(reqs))
	for i, r := range reqs {
		out[i] = e.Evaluate(org, role, r)
	}
	return out
}

func (r Request) vars(service string, serviceKnown bool) map[string]any {
	v := map[string]any{BindOperation: r.Operation}
	if serviceKnown {
		v[BindService] = service
	}
	if r.Zone != "" {
		v[BindZone] = r.Zone
	}
	if r.APIKey != "" {
		v[BindAPIKey] = r.APIKey
	}
	if r.SourceIP != "" {
		v[BindSourceIP] = r.SourceIP
	}
	if !r.Now.IsZero() {
		v[BindNow] = r.Now.UTC().Format(time.RFC3339)
	}
	if r.Parameters != nil {
		v[BindParameters] = r.Parameters
	}
	if r.Resources != nil {
		v[BindResources] = r.Resources
		v[BindResource] = r.Resources
	}
	return v
}

func (e *Evaluator) evalLayer(p *Policy, service string, serviceKnown bool, vars map[string]any) LayerResult {
	if p == nil {
		return LayerResult{Outcome: Allow, By: ByNoPolicy, Rule: -1}
	}
	def := LayerResult{Outcome: Outcome(p.DefaultServiceStrategy), By: ByDefaultStrategy, Rule: -1}
	if def.Outcome != Allow {
		def.Outcome = Deny // anything but "allow" denies: fail closed on a malformed policy
	}
	if !serviceKnown {
		if len(p.Services) == 0 {
			return def
		}
		return LayerResult{Outcome: Conditional, By: ByUnknownService, Rule: -1, DependsOn: []string{BindService}}
	}
	sp, ok := p.Services[service]
	if !ok {
		return def
	}
	switch sp.Type {
	case TypeAllow:
		return LayerResult{Outcome: Allow, By: ByServiceType, Rule: -1}
	case TypeRules:
		return e.evalRules(sp.Rules, vars)
	default:
		return LayerResult{Outcome: Deny, By: ByServiceType, Rule: -1}
	}
}

// evalRules applies the documented order: the first true rule decides; false or error goes on;
// none → deny. With unknowns, every action a rule before the first certain one might take is a
// possible outcome; when they all agree the answer is certain, otherwise conditional.
func (e *Evaluator) evalRules(rules []Rule, vars map[string]any) LayerResult {
	firstUnknown, decided := -1, -1
	var deps, notes []string
	possible := map[Outcome]bool{}
	for i, r := range rules {
		c, err := e.cache.get(r.Expression)
		if err != nil {
			return LayerResult{Outcome: Conditional, By: ByRule, Rule: i, Expression: r.Expression, DependsOn: []string{"CEL environment"}, Notes: []string{err.Error()}}
		}
		res, dep, note := evalRule(c, vars)
		if note != "" && len(notes) < 10 {
			notes = append(notes, fmt.Sprintf("rule %d: %s", i, note))
		}
		action := Deny
		if r.Action == StrategyAllow {
			action = Allow
		}
		if res == ruleTrue {
			decided = i
			possible[action] = true
			break
		}
		if res == ruleUnknown {
			if firstUnknown < 0 {
				firstUnknown = i
			}
			possible[action] = true
			deps = mergeNames(deps, dep)
		}
	}
	if decided < 0 {
		possible[Deny] = true
	}
	if len(possible) > 1 {
		return LayerResult{Outcome: Conditional, By: ByRule, Rule: firstUnknown, Expression: rules[firstUnknown].Expression, DependsOn: deps, Notes: notes}
	}
	var out Outcome
	for o := range possible {
		out = o
	}
	if decided < 0 {
		return LayerResult{Outcome: out, By: ByNoRule, Rule: -1, Notes: notes}
	}
	return LayerResult{Outcome: out, By: ByRule, Rule: decided, Expression: rules[decided].Expression, Notes: notes}
}

func mergeNames(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		out = appendUnique(out, s)
	}
	sort.Strings(out)
	return out
}
