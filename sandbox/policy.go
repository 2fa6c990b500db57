package sandbox

import (
	"net/netip"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	celref "cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
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

// policyRule is one rule. Resources is accepted and returned as given but never evaluated:
// Exoscale's own tools treat it as no longer supported.
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
	prg   cel.Program // nil: the expression does not compile, so the rule never decides
}

// allowAllPolicy is the policy of a role created without one, and the reset organization policy.
func allowAllPolicy() *policy {
	p := &policy{DefaultServiceStrategy: "allow", Services: map[string]servicePolicy{}}
	p.compile()
	return p
}

// compile prepares the rules for evaluation; call it before publishing p. Compiling twice is
// harmless (programs are cached per expression).
func (p *policy) compile() {
	if p.Services == nil {
		p.Services = map[string]servicePolicy{}
	}
	p.compiled = make(map[string]compiledService, len(p.Services))
	for name, sp := range p.Services {
		cs := compiledService{typ: sp.Type}
		for _, r := range sp.Rules {
			cs.rules = append(cs.rules, compiledRule{allow: r.Action == "allow", prg: program(r.Expression)})
		}
		p.compiled[name] = cs
	}
}

// allows reports whether p lets the request through, following Exoscale's documented
// evaluation: the entry of the request's service class decides, or the default strategy when
// the class has none; type allow and deny decide by themselves; type rules takes the rules in
// order and the first whose expression evaluates to true decides with its action. A rule whose
// expression is false, not a boolean, fails to compile or fails at run time (a missing
// parameter, a bad CIDR) concludes nothing and evaluation goes on; when no rule decides the
// request is denied, whatever the default strategy says.
func (p *policy) allows(req *policyRequest) bool {
	if p == nil {
		return false
	}
	cs, ok := p.compiled[req.service]
	if !ok {
		return p.DefaultServiceStrategy == "allow"
	}
	switch cs.typ {
	case "allow":
		return true
	case "rules":
		for _, r := range cs.rules {
			if r.prg != nil && req.isTrue(r.prg) {
				return r.allow
			}
		}
	}
	return false
}

// policyRequest is one API call as policies see it: the values of the CEL bindings.
type policyRequest struct {
	operation  string // the operationId
	service    string // its service class
	zone       string
	now        time.Time
	sourceIP   string
	apiKey     string
	parameters map[string]any // path, query and body parameters of the request
	resources  map[string]any // the objects the request touches, by type (api_key, iam_role, …)
	// gather, when set, fills parameters and resources on the first evaluation of a rule, so
	// requests that no rule looks at (the common allow-all role) skip the work. It may take
	// the sandbox's read lock: evaluate before taking its write lock.
	gather func(r *policyRequest)

	once sync.Once
	act  interpreter.Activation
}

// activation builds the CEL bindings once per request; both policy layers share them.
func (r *policyRequest) activation() interpreter.Activation {
	r.once.Do(func() {
		if r.gather != nil {
			r.gather(r)
		}
		params, res := r.parameters, r.resources
		if params == nil {
			params = map[string]any{}
		}
		if res == nil {
			res = map[string]any{}
		}
		act, err := interpreter.NewActivation(map[string]any{
			"operation":  r.operation,
			"service":    r.service,
			"zone":       r.zone,
			"now":        r.now.UTC().Format(time.RFC3339),
			"source_ip":  r.sourceIP,
			"api_key":    r.apiKey,
			"parameters": params,
			// The policy guide writes both resources.x and resource.x.
			"resources": res,
			"resource":  res,
		})
		if err != nil { // NewActivation fails only for a nil or non-map input
			act = interpreter.EmptyActivation()
		}
		r.act = act
	})
	return r.act
}

// isTrue evaluates prg against the request: only the boolean true counts.
func (r *policyRequest) isTrue(prg cel.Program) bool {
	out, _, err := prg.Eval(r.activation())
	return err == nil && out == types.True
}

// celCostLimit bounds one rule's evaluation (CEL's cost units, roughly one per operation), so a
// rule with a huge comprehension cannot stall the API; past it the rule errors and concludes
// nothing.
const celCostLimit = 100_000

// celEnv declares the bindings Exoscale's policy guide documents, and its inIpRange extension.
// parameters.has('name') is accepted alongside CEL's own has(parameters.name): the guide
// writes both.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	mapType := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("operation", cel.StringType),
		cel.Variable("service", cel.StringType),
		cel.Variable("zone", cel.StringType),
		cel.Variable("now", cel.StringType),
		cel.Variable("source_ip", cel.StringType),
		cel.Variable("api_key", cel.StringType),
		cel.Variable("parameters", mapType),
		cel.Variable("resources", mapType),
		cel.Variable("resource", mapType),
		cel.Function("inIpRange",
			cel.MemberOverload("string_inIpRange_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inIPRange))),
		cel.Function("has",
			cel.MemberOverload("map_has_string", []*cel.Type{mapType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(m, key celref.Val) celref.Val {
					c, ok := m.(traits.Container)
					if !ok {
						return types.NewErr("has: not a map")
					}
					return c.Contains(key)
				}))),
	)
})

// inIPRange is source_ip.inIpRange('192.0.2.0/24'): whether the address is in the CIDR block.
// A bare address ('192.0.2.7') is a block of one, as the server's policy engine reads it, so
// that the guard and this double agree. A malformed address or block is an error, so the rule
// concludes nothing.
func inIPRange(ip, cidr celref.Val) celref.Val {
	ipStr, ok1 := ip.(types.String)
	cidrStr, ok2 := cidr.(types.String)
	if !ok1 || !ok2 {
		return types.NewErr("inIpRange: expected strings")
	}
	addr, err := netip.ParseAddr(string(ipStr))
	if err != nil {
		return types.NewErr("inIpRange: source_ip is not an IP address")
	}
	prefix, err := netip.ParsePrefix(string(cidrStr))
	if err != nil {
		one, aerr := netip.ParseAddr(string(cidrStr))
		if aerr != nil {
			return types.NewErr("inIpRange: not a CIDR block: %s", string(cidrStr))
		}
		prefix = netip.PrefixFrom(one.Unmap(), one.Unmap().BitLen())
	}
	return types.Bool(prefix.Contains(addr.Unmap()))
}

// maxCachedPrograms bounds the program cache: policies come from clients, and each distinct
// expression would otherwise stay in memory for the life of the process.
const maxCachedPrograms = 4096

var programs = struct {
	sync.Mutex
	m map[string]cel.Program
}{m: map[string]cel.Program{}}

// program compiles a rule expression (cached per expression). It returns nil when the
// expression does not compile: an undeclared binding or function, a syntax error, or a result
// that is not a boolean; such a rule never decides.
func program(expr string) cel.Program {
	programs.Lock()
	prg, ok := programs.m[expr]
	programs.Unlock()
	if ok {
		return prg
	}
	prg = compileProgram(expr)
	programs.Lock()
	if len(programs.m) < maxCachedPrograms {
		programs.m[expr] = prg
	}
	programs.Unlock()
	return prg
}

func compileProgram(expr string) cel.Program {
	env, err := celEnv()
	if err != nil {
		return nil
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil
	}
	prg, err := env.Program(ast, cel.CostLimit(celCostLimit))
	if err != nil {
		return nil
	}
	return prg
}
