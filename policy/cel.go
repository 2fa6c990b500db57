package policy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// The CEL bindings of Exoscale's policy guide. `resource` is the singular spelling the guide's
// first example uses; both are declared and hold the same value.
const (
	BindOperation  = "operation"
	BindService    = "service"
	BindZone       = "zone"
	BindNow        = "now"
	BindSourceIP   = "source_ip"
	BindAPIKey     = "api_key"
	BindParameters = "parameters"
	BindResources  = "resources"
	BindResource   = "resource"
)

// Bindings lists every binding this package declares.
var Bindings = []string{BindOperation, BindService, BindZone, BindNow, BindSourceIP, BindAPIKey, BindParameters, BindResources, BindResource}

// Limits that keep a hostile or broken expression from costing more than a policy is worth.
const (
	maxExpressionBytes = 8 << 10
	costLimit          = 100_000
	cacheSize          = 2048
)

// newEnv declares the bindings and Exoscale's functions, and warms the checker. Built once per
// process (celEnv).
func newEnv() (*cel.Env, error) {
	env, err := declareEnv()
	if err != nil {
		return nil, err
	}
	// cel-go v0.33.3 fills its checker's symbol catalog lazily on the first undeclared
	// reference, and a concurrent check of a comprehension reads that field without
	// synchronisation (a data race the race detector reports). Checking expressions with
	// undeclared names here, before the env is shared, fills it once.
	for _, warm := range []string{"undeclared_warmup", "undeclared_warmup.field", "undeclared_warmup()", "operation.undeclared_warmup()"} {
		if a, iss := env.Parse(warm); iss.Err() == nil {
			env.Check(a)
		}
	}
	return env, nil
}

func declareEnv() (*cel.Env, error) {
	mapType := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable(BindOperation, cel.StringType),
		cel.Variable(BindService, cel.StringType),
		cel.Variable(BindZone, cel.StringType),
		cel.Variable(BindNow, cel.StringType), // the guide: a string, timestamp(now) converts it
		cel.Variable(BindSourceIP, cel.StringType),
		cel.Variable(BindAPIKey, cel.StringType),
		cel.Variable(BindParameters, mapType),
		cel.Variable(BindResources, mapType),
		cel.Variable(BindResource, mapType),
		// source_ip.inIpRange('89.145.160.0/24'): an Exoscale extension.
		cel.Function("inIpRange",
			cel.MemberOverload("string_inIpRange_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inIPRange))),
		// parameters.has('x'): the guide's and Terraform's way to test for a parameter.
		cel.Function("has",
			cel.MemberOverload("map_has_string", []*cel.Type{mapType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(mapHas))),
		cel.ParserExpressionSizeLimit(maxExpressionBytes),
		cel.ParserRecursionLimit(100),
	)
}

func inIPRange(lhs, rhs ref.Val) ref.Val {
	ip, ok1 := lhs.Value().(string)
	cidr, ok2 := rhs.Value().(string)
	if !ok1 || !ok2 {
		return types.NewErr("inIpRange: expected string.inIpRange(string)")
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return types.NewErr("inIpRange: %q is not an IP address", ip)
	}
	prefix, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		// A bare address is a range of one.
		a, err2 := netip.ParseAddr(strings.TrimSpace(cidr))
		if err2 != nil {
			return types.NewErr("inIpRange: %q is not a CIDR range", cidr)
		}
		prefix = netip.PrefixFrom(a, a.BitLen())
	}
	return types.Bool(prefix.Contains(addr.Unmap()) || prefix.Contains(addr))
}

func mapHas(lhs, rhs ref.Val) ref.Val {
	m, ok := lhs.(traits.Mapper)
	if !ok {
		return types.NewErr("has: expected a map")
	}
	_, found := m.Find(rhs)
	return types.Bool(found)
}

var celEnv = sync.OnceValues(newEnv)

// compiled is what the cache keeps per expression.
type compiled struct {
	prg cel.Program
	ast *cel.Ast // parsed (always, unless a syntax error) and checked when prg is set
	// invalid is a syntax or type error: such a rule concludes nothing, and Check reports it.
	invalid string
	// undeclared names functions or bindings the environment lacks: Exoscale may know them,
	// so a rule using them is conditional on them.
	undeclared []string
}

// programCache holds compiled expressions, bounded; safe for concurrent use.
type programCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*compiled
}

func newProgramCache(max int) *programCache {
	return &programCache{max: max, m: make(map[string]*compiled)}
}

func (c *programCache) get(expr string) (*compiled, error) {
	c.mu.Lock()
	p, ok := c.m[expr]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := compile(celEnv, expr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		for k := range c.m { // evict an arbitrary entry: cheap, bounded, good enough
			delete(c.m, k)
			break
		}
	}
	c.m[expr] = p
	c.mu.Unlock()
	return p, nil
}

func (c *programCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func compile(envFn func() (*cel.Env, error), expr string) (*compiled, error) {
	env, err := envFn()
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	if len(expr) > maxExpressionBytes {
		return &compiled{invalid: fmt.Sprintf("expression longer than %d bytes", maxExpressionBytes)}, nil
	}
	parsed, iss := env.Parse(expr)
	if iss.Err() != nil {
		return &compiled{invalid: "syntax error: " + oneLine(iss.Err().Error())}, nil
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		c := &compiled{ast: parsed}
		var other []string
		for _, e := range iss.Errors() {
			if name, ok := strings.CutPrefix(e.Message, "undeclared reference to '"); ok {
				name, _, _ = strings.Cut(name, "'")
				c.undeclared = appendUnique(c.undeclared, name)
				continue
			}
			other = append(other, e.Message)
		}
		if len(c.undeclared) == 0 {
			c.invalid = "type error: " + strings.Join(other, "; ")
		}
		sort.Strings(c.undeclared)
		return c, nil
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptPartialEval, cel.OptTrackState), cel.CostLimit(costLimit))
	if err != nil {
		return &compiled{ast: checked, invalid: "cannot plan: " + err.Error()}, nil
	}
	return &compiled{prg: prg, ast: checked}, nil
}

func oneLine(s string) string {
	s = strings.TrimPrefix(s, "ERROR: <input>:")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func appendUnique(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

// ruleResult is what one rule's expression says about one request.
type ruleResult int

const (
	ruleTrue    ruleResult = iota // the rule decides
	ruleNothing                   // false, not a bool, or an error: go on
	ruleUnknown                   // depends on something unknown
)

// evalRule evaluates one expression with the known bindings; unknown ones are CEL unknowns.
func evalRule(c *compiled, vars map[string]any) (res ruleResult, dependsOn []string, note string) {
	switch {
	case c.invalid != "":
		return ruleNothing, nil, c.invalid
	case len(c.undeclared) > 0:
		return ruleUnknown, c.undeclared, "uses " + strings.Join(c.undeclared, ", ") + ", unknown to this server"
	}
	env, err := celEnv()
	if err != nil {
		return ruleUnknown, []string{"CEL environment"}, err.Error()
	}
	act, err := env.PartialVars(vars)
	if err != nil {
		return ruleUnknown, []string{"activation"}, err.Error()
	}
	defer func() {
		if r := recover(); r != nil { // a CEL defect must not decide anything
			res, dependsOn, note = ruleUnknown, []string{"evaluation"}, fmt.Sprint("evaluation failed: ", r)
		}
	}()
	out, _, err := c.prg.Eval(act)
	if out != nil && types.IsUnknown(out) {
		return ruleUnknown, unknownNames(out.(*types.Unknown)), ""
	}
	if err != nil {
		if strings.Contains(err.Error(), "cost limit") {
			return ruleUnknown, []string{"evaluation cost"}, "evaluation exceeded the cost limit"
		}
		return ruleNothing, nil, "evaluation error: " + err.Error()
	}
	if b, ok := out.(types.Bool); ok && bool(b) {
		return ruleTrue, nil, ""
	}
	if _, ok := out.(types.Bool); !ok {
		return ruleNothing, nil, "not a bool: " + fmt.Sprint(out.Type())
	}
	return ruleNothing, nil, ""
}

func unknownNames(u *types.Unknown) []string {
	var names []string
	for _, id := range u.IDs() {
		trails, _ := u.GetAttributeTrails(id)
		for _, t := range trails {
			names = appendUnique(names, t.String())
		}
	}
	if len(names) == 0 {
		names = []string{"unknown value"}
	}
	sort.Strings(names)
	return names
}

// operationRef is an operation name a rule compares `operation` with.
type operationRef struct {
	Name    string
	Negated bool // operation != 'x'
}

// operationNames extracts the names in `operation == 'x'`, `'x' == operation`,
// `operation != 'x'` and `operation in ['x', 'y']` anywhere in the expression's AST.
func operationNames(a *cel.Ast) []operationRef {
	if a == nil {
		return nil
	}
	var refs []operationRef
	nav := ast.NavigateAST(a.NativeRep())
	for _, call := range ast.MatchDescendants(nav, ast.KindMatcher(ast.CallKind)) {
		c := call.AsCall()
		args := c.Args()
		if len(args) != 2 {
			continue
		}
		switch c.FunctionName() {
		case operators.Equals, operators.NotEquals:
			neg := c.FunctionName() == operators.NotEquals
			if isOperationIdent(args[0]) {
				if s, ok := stringLiteral(args[1]); ok {
					refs = append(refs, operationRef{s, neg})
				}
			} else if isOperationIdent(args[1]) {
				if s, ok := stringLiteral(args[0]); ok {
					refs = append(refs, operationRef{s, neg})
				}
			}
		case operators.In:
			if isOperationIdent(args[0]) && args[1].Kind() == ast.ListKind {
				for _, el := range args[1].AsList().Elements() {
					if s, ok := stringLiteral(el); ok {
						refs = append(refs, operationRef{s, false})
					}
				}
			}
		}
	}
	return refs
}

func isOperationIdent(e ast.Expr) bool {
	return e.Kind() == ast.IdentKind && e.AsIdent() == BindOperation
}

func stringLiteral(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// canonical returns a normal form of an expression (formatting and redundant parentheses
// removed) for comparing policies; the trimmed text when it does not parse.
func canonical(expr string) string {
	env, err := celEnv()
	if err != nil {
		return strings.TrimSpace(expr)
	}
	a, iss := env.Parse(expr)
	if iss.Err() != nil {
		return strings.TrimSpace(expr)
	}
	s, err := cel.AstToString(a)
	if err != nil {
		return strings.TrimSpace(expr)
	}
	return s
}
