// Package iamtools serves what a model needs to write and test Exoscale IAM policies, read
// only: the tools list-iam-operations (the operations a policy can name) and check-iam-access
// (what a key, a role or a draft policy allows, with the fix for a deny), the resources
// exoscale://iam/operations and exoscale://iam/policy-guide, and the resource template
// exoscale://api/operations/{operation}.
//
// The answers come from the catalog of every API operation (package schemas) and the policy
// engine (package policy); check-iam-access reads the key, the role and the organization
// policy through the engine (Caller), so those reads are validated, signed and audited like
// any tool call. Nothing here changes anything.
package iamtools

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// Toolset is the toolset of the tools of this package (--toolsets iam-policy).
const Toolset = "iam-policy"

// The catalog operations check-iam-access reads with.
const (
	opGetKey    = "get-api-key"
	opGetRole   = "get-iam-role"
	opOrgPolicy = "get-iam-organization-policy"
	opSetRole   = "update-iam-role-policy"
	opSetOrg    = "update-iam-organization-policy"
	opNewRole   = "create-iam-role"
)

// opListOps is this package's tool that lists the operations a policy can name.
const opListOps = "list-iam-operations"

// Caller runs catalog operations: *tools.Engine.
type Caller interface {
	Call(ctx context.Context, operation string, args map[string]any) (tools.Result, error)
}

// Register adds the tools, resources and resource template to r.
func Register(r *tools.Registry, c Caller) error {
	if err := r.AddTools(Tools(c)...); err != nil {
		return err
	}
	r.AddResources(Resources()...)
	r.AddResourceTemplates(ResourceTemplates()...)
	return nil
}

const listSchema = `{"type":"object","properties":{"service":{"type":"string","description":"service class: iam, compute, dbaas, dns, sos, ai, kms, audit-trail, compute-legacy"},"match":{"type":"string","description":"substring of the operation name"},"access":{"type":"string","enum":["read","write"]}},"additionalProperties":false}`

const checkSchema = `{"type":"object","properties":{"api-key":{"type":"string","pattern":"^EXO","description":"IAM API key (EXO…)"},"role-id":{"type":"string","description":"IAM role id"},"policy":{"type":"object","description":"draft role policy, to test before creating it"},"operations":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":100,"description":"operationIds, see list-iam-operations"},"zone":{"type":"string","description":"e.g. ch-gva-2"},"source-ip":{"type":"string"},"parameters":{"type":"object","description":"request parameters, for rules on parameters.*"}},"required":["operations"],"additionalProperties":false}`

// Output schemas, lenient like the catalog's: they describe the top-level fields and require
// none (list-iam-operations answers with counts without arguments, rows with them).
const (
	listOutput = `{"type":"object","properties":{"total":{"type":"integer","description":"operations in all (no arguments)"},"services":{"type":"array","items":{"type":"object"},"description":"per service: service, operations, documented (no arguments)"},"filter":{"type":"string","description":"how to list rows (no arguments)"},"operations":{"type":"array","items":{"type":"object","properties":{"operation":{"type":"string"},"service":{"type":"string"},"service-inferred":{"type":"boolean"},"method":{"type":"string"},"path":{"type":"string"},"access":{"type":"string","enum":["read","write"]}}}},"count":{"type":"integer"}}}`

	checkOutput = `{"type":"object","properties":{"subject":{"type":"object","description":"what was evaluated: api-key, role-id, role-name, or policy: draft"},"results":{"type":"array","items":{"type":"object","properties":{"operation":{"type":"string"},"service":{"type":"string"},"service-inferred":{"type":"boolean"},"decision":{"type":"string","enum":["allow","deny","conditional"]},"layer":{"type":"string"},"by":{"type":"string"},"rule":{"type":"object","description":"index, expression"},"depends-on":{"type":"array","items":{"type":"string"}},"fix":{"type":"array","items":{"type":"object"},"description":"for a deny: tool, arguments, summary (not applied)"}}}}}}`
)

// Tools returns list-iam-operations and check-iam-access. c may be nil for a tool table; the
// handlers need it only when called.
func Tools(c Caller) []tools.Tool {
	ro := tools.Annotations{ReadOnly: true, Idempotent: true}
	checkAnn := ro
	checkAnn.OpenWorld = true
	return []tools.Tool{
		{
			Name: "list-iam-operations", Title: "List the operations an IAM policy can name", Toolset: Toolset,
			Description: "List Exoscale API operations (operationId, service class, method, path, read|write) for IAM policy rules. Without arguments: counts per service. Inferred service classes are marked.",
			InputSchema: json.RawMessage(listSchema), OutputSchema: json.RawMessage(listOutput), Annotations: ro, Access: schemas.Read,
			Handler: listOperations,
		},
		{
			Name: "check-iam-access", Title: "Check what a key, role or policy allows", Toolset: Toolset,
			Description: "Evaluate IAM access without calling anything: give exactly one of api-key, role-id or policy (a draft), and operations. Per operation: decision allow|deny|conditional, the layer and rule deciding; for a deny, a fix as ready update-iam-role-policy arguments. Applies nothing.",
			InputSchema: json.RawMessage(checkSchema), OutputSchema: json.RawMessage(checkOutput), Annotations: checkAnn, Access: schemas.Read,
			Handler: func(ctx context.Context, args map[string]any) (tools.Result, error) {
				return checkAccess(ctx, c, args)
			},
		},
	}
}

// invalid is the answer to arguments that do not fit; nothing was read or sent.
func invalid(tool, format string, a ...any) (tools.Result, error) {
	return tools.Failure(tools.Invalid, tool+": "+fmt.Sprintf(format, a...)+" Nothing was called; fix the arguments and call again."), nil
}

// onlyArgs refuses arguments a tool does not take.
func onlyArgs(tool string, args map[string]any, allowed ...string) (tools.Result, bool) {
	for k := range args {
		if !slices.Contains(allowed, k) {
			res, _ := invalid(tool, "unknown argument %q; allowed: %s.", k, strings.Join(allowed, ", "))
			return res, false
		}
	}
	return tools.Result{}, true
}

func stringArg(tool string, args map[string]any, name string) (string, tools.Result, bool) {
	v, ok := args[name]
	if !ok || v == nil {
		return "", tools.Result{}, true
	}
	s, ok := v.(string)
	if !ok {
		res, _ := invalid(tool, "%s: expected a string, got %s.", name, jsonText(v))
		return "", res, false
	}
	return s, tools.Result{}, true
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

// opRow is one operation as list-iam-operations shows it.
type opRow struct {
	Operation string `json:"operation"`
	Service   string `json:"service"`
	Inferred  bool   `json:"service-inferred,omitempty"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Access    string `json:"access"`
}

func row(op schemas.APIOperation) opRow {
	return opRow{Operation: op.Name, Service: op.Service, Inferred: op.ServiceInferred, Method: op.Method, Path: op.Path, Access: string(op.Access)}
}

const inferredNote = "service-inferred: no Exoscale source documents this class; it is inferred from the API's tags, so check that a policy entry for it applies."

func listOperations(_ context.Context, args map[string]any) (tools.Result, error) {
	const tool = opListOps
	if res, ok := onlyArgs(tool, args, "service", "match", "access"); !ok {
		return res, nil
	}
	service, res, ok := stringArg(tool, args, "service")
	if !ok {
		return res, nil
	}
	match, res, ok := stringArg(tool, args, "match")
	if !ok {
		return res, nil
	}
	access, res, ok := stringArg(tool, args, "access")
	if !ok {
		return res, nil
	}
	if access != "" && access != string(schemas.APIRead) && access != string(schemas.APIWrite) {
		return invalid(tool, "access: expected read or write, got %q.", access)
	}
	if service != "" {
		if _, ok := schemas.LookupService(service); !ok {
			return invalid(tool, "service: %q is not an IAM service class; classes: %s.", service, strings.Join(serviceNames(), ", "))
		}
	}
	if service == "" && match == "" && access == "" {
		return summary()
	}
	rows := []opRow{}
	inferred := false
	for _, op := range schemas.AllOperations() {
		if (service != "" && op.Service != service) || (access != "" && string(op.Access) != access) ||
			(match != "" && !strings.Contains(op.Name, strings.ToLower(match))) {
			continue
		}
		rows = append(rows, row(op))
		inferred = inferred || op.ServiceInferred
	}
	note := ""
	if inferred {
		note = inferredNote
	}
	if len(rows) == 0 {
		note = "No operation matches; call without arguments for the services."
	}
	return tools.ValueResult(tools.OK, map[string]any{"operations": rows, "count": len(rows)}, note)
}

// summary is list-iam-operations without arguments: counts, not hundreds of rows.
func summary() (tools.Result, error) {
	type svc struct {
		Service    string `json:"service"`
		Operations int    `json:"operations"`
		Documented bool   `json:"documented"`
	}
	var out []svc
	total := 0
	for _, s := range schemas.Services() {
		n := len(schemas.OperationsOf(s.Name))
		total += n
		out = append(out, svc{s.Name, n, s.Documented})
	}
	return tools.ValueResult(tools.OK, map[string]any{
		"total": total, "services": out,
		"filter": "pass service (e.g. iam), match (a substring, e.g. api-key) and/or access (read|write) to list operations",
	}, "documented false: the class is inferred from the API's tags, not documented by Exoscale.")
}

func serviceNames() []string {
	var out []string
	for _, s := range schemas.Services() {
		out = append(out, s.Name)
	}
	return out
}

// ruleRef is the rule that decided.
type ruleRef struct {
	Index      int    `json:"index"`
	Expression string `json:"expression"`
}

// fixArgs is a proposed change, as a tool call that would make it (not made).
type fixArgs struct {
	Tool      string         `json:"tool"`
	Arguments map[string]any `json:"arguments"`
	Summary   string         `json:"summary"`
	// NotServed: the operator does not serve Tool here; the change is data for a human.
	NotServed bool `json:"not-served,omitempty"`
}

// access is the answer for one operation.
type access struct {
	Operation string         `json:"operation"`
	Service   string         `json:"service,omitempty"`
	Inferred  bool           `json:"service-inferred,omitempty"`
	Decision  policy.Outcome `json:"decision"`
	Layer     policy.Layer   `json:"layer"`
	By        string         `json:"by"`
	Rule      *ruleRef       `json:"rule,omitempty"`
	DependsOn []string       `json:"depends-on,omitempty"`
	Fix       []fixArgs      `json:"fix,omitempty"`
}

func checkAccess(ctx context.Context, c Caller, args map[string]any) (tools.Result, error) {
	const tool = "check-iam-access"
	if res, ok := onlyArgs(tool, args, "api-key", "role-id", "policy", "operations", "zone", "source-ip", "parameters"); !ok {
		return res, nil
	}
	var strs [4]string
	for i, name := range []string{"api-key", "role-id", "zone", "source-ip"} {
		s, res, ok := stringArg(tool, args, name)
		if !ok {
			return res, nil
		}
		strs[i] = s
	}
	apiKey, roleID, zone, sourceIP := strs[0], strs[1], strs[2], strs[3]
	draft, hasDraft := args["policy"]
	given := 0
	for _, b := range []bool{apiKey != "", roleID != "", hasDraft && draft != nil} {
		if b {
			given++
		}
	}
	if given != 1 {
		return invalid(tool, "give exactly one of api-key (an EXO… key), role-id or policy (a draft role policy); got %d.", given)
	}
	if apiKey != "" && !strings.HasPrefix(apiKey, "EXO") {
		return invalid(tool, "api-key: expected an IAM API key starting with EXO.")
	}
	var params map[string]any
	if v, ok := args["parameters"]; ok && v != nil {
		if params, ok = v.(map[string]any); !ok {
			return invalid(tool, "parameters: expected an object, got %s.", jsonText(v))
		}
	}
	ops, res, ok := operationsArg(tool, args["operations"], servesOf(c))
	if !ok {
		return res, nil
	}
	if c == nil {
		return tools.Result{}, fmt.Errorf("iamtools: %s has no engine", tool)
	}

	// The role layer.
	var role *policy.Policy
	subject := map[string]any{}
	frozen := false // the role cannot be updated (editable: false)
	switch {
	case hasDraft && draft != nil:
		raw, _ := json.Marshal(draft)
		p, problems := policy.CheckJSON(raw)
		if policy.HasErrors(problems) {
			return invalid(tool, "policy: the draft would not work:\n- %s\n", joinProblems(problems))
		}
		role = p
		subject["policy"] = "draft"
	default:
		if apiKey != "" {
			obj, res, ok := read(ctx, c, tool, opGetKey, apiKey)
			if !ok {
				return res, nil
			}
			roleID, _ = obj["role-id"].(string)
			subject["api-key"] = apiKey
			if roleID == "" {
				return tools.Failure(tools.Failed, fmt.Sprintf("%s: the key %s names no role, so its access cannot be evaluated.", tool, apiKey)), nil
			}
		}
		obj, res, ok := read(ctx, c, tool, opGetRole, roleID)
		if !ok {
			return res, nil
		}
		subject["role-id"] = roleID
		if name, ok := obj["name"].(string); ok {
			subject["role-name"] = name
		}
		frozen = obj["editable"] == false
		p, err := policyValue(obj["policy"])
		if err != nil {
			return tools.Failure(tools.Failed, fmt.Sprintf("%s: the role %s's policy cannot be read by this server (%v).", tool, roleID, err)), nil
		}
		role = p
	}
	// The organization layer.
	orgObj, res, ok := read(ctx, c, tool, opOrgPolicy, "")
	if !ok {
		return res, nil
	}
	org, err := policyValue(orgObj)
	if err != nil {
		return tools.Failure(tools.Failed, fmt.Sprintf("%s: the organization policy cannot be read by this server (%v).", tool, err)), nil
	}
	if org == nil {
		org = policy.AllowAll()
	}

	out := make([]access, 0, len(ops))
	inferred := false
	for _, op := range ops {
		req := policy.Request{Operation: op, Zone: zone, SourceIP: sourceIP, APIKey: apiKey, Parameters: params}
		d := policy.Evaluate(org, role, req)
		a := access{Operation: op, Service: d.Service, Inferred: d.ServiceInferred, Decision: d.Outcome, Layer: d.Layer, By: string(d.By), DependsOn: d.DependsOn}
		inferred = inferred || d.ServiceInferred
		if d.By == policy.ByRule && d.Rule >= 0 {
			a.Rule = &ruleRef{Index: d.Rule, Expression: d.Expression}
		}
		if d.Outcome == policy.Deny {
			a.Fix = fixes(org, role, req, roleID, hasDraft && draft != nil, frozen, servesOf(c))
		}
		out = append(out, a)
	}
	notes := []string{"Evaluated by this server from the policies; nothing was called on the operations and nothing applied."}
	if zone == "" {
		notes = append(notes, "No zone given: rules on zone answer conditional.")
	}
	if inferred {
		notes = append(notes, inferredNote)
	}
	return tools.ValueResult(tools.OK, map[string]any{"subject": subject, "results": out}, strings.Join(notes, " "))
}

// fixes turns policy.Fix's proposals into ready tool arguments.
// fixes proposes the calls that would allow req. A role created with editable: false cannot
// be updated by any key, so its fix is a new role with the changed policy (keys cannot change
// role: new keys go on it), never an update the API would refuse.
func fixes(org, role *policy.Policy, req policy.Request, roleID string, draft, frozen bool, serves func(string) bool) []fixArgs {
	if role == nil {
		role = policy.AllowAll()
	}
	props, err := policy.Fix(org, role, req)
	if err != nil {
		return []fixArgs{{Summary: "no fix proposed: " + err.Error()}}
	}
	var out []fixArgs
	for _, fp := range props {
		flat := map[string]any{"default-service-strategy": fp.Policy.DefaultServiceStrategy, "services": fp.Policy.Services}
		f := fixArgs{Summary: fp.Summary}
		switch {
		case fp.Layer == policy.LayerOrganization:
			f.Tool, f.Arguments = opSetOrg, flat
			f.Summary += " (organization policy: applies to every key)"
		case draft:
			f.Tool, f.Arguments = opNewRole, map[string]any{"policy": flat}
			f.Summary += " (in the draft; add the role's name)"
		case frozen:
			f.Tool, f.Arguments = opNewRole, map[string]any{"policy": flat}
			f.Summary += " (role " + roleID + " was created with editable: false and cannot be updated: create a role with this policy, add its name, and new keys on it)"
		default:
			flat["id"] = roleID
			f.Tool, f.Arguments = opSetRole, flat
		}
		if !serves(f.Tool) {
			// Still useful to a human: the policy to apply by other means.
			f.NotServed = true
			f.Summary += " (" + f.Tool + " is not served here: the operator can apply this policy in the Exoscale portal)"
		}
		out = append(out, f)
	}
	return out
}

// operationsArg reads 1 to 100 known operationIds.
func operationsArg(tool string, v any, serves func(string) bool) ([]string, tools.Result, bool) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 || len(list) > 100 {
		res, _ := invalid(tool, "operations: expected an array of 1 to 100 operationIds%s, got %s.", listedBy(serves, " (%s lists them)"), jsonText(v))
		return nil, res, false
	}
	var out, bad []string
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			res, _ := invalid(tool, "operations: expected strings, got %s.", jsonText(x))
			return nil, res, false
		}
		if _, ok := schemas.LookupAPIOperation(s); !ok {
			// Restrict names the nearest operations of an unknown one.
			_, err := policy.Restrict(policy.Restriction{Operations: []string{s}})
			bad = append(bad, strings.TrimPrefix(err.Error(), "operation "))
			continue
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(bad) > 0 {
		res, _ := invalid(tool, "operations: %s%s.", strings.Join(bad, "; "), listedBy(serves, "; %s lists them"))
		return nil, res, false
	}
	return out, tools.Result{}, true
}

// read runs a catalog read through the engine; a failure is returned as the answer, prefixed.
func read(ctx context.Context, c Caller, tool, operation, id string) (map[string]any, tools.Result, bool) {
	args := map[string]any{}
	if id != "" {
		args["id"] = id
	}
	res, err := c.Call(ctx, operation, args)
	if err != nil {
		return nil, tools.Failure(tools.Failed, fmt.Sprintf("%s: %s failed: %v", tool, operation, err)), false
	}
	if res.IsError() {
		text := res.Text
		if res.Status == http.StatusForbidden {
			// The step's advice may point back here ("if this key can still read IAM"): it
			// cannot, so say so rather than send the model round in a circle.
			text += " So " + tool + " cannot answer with this server's key; the operator can read the policies in the Exoscale portal."
		}
		return nil, tools.Failure(res.Outcome, fmt.Sprintf("%s: reading with %s failed, so nothing was evaluated: %s", tool, operation, text)), false
	}
	obj, err := res.Object()
	if err != nil {
		return nil, tools.Failure(tools.Failed, fmt.Sprintf("%s: %s answered with no object (%v).", tool, operation, err)), false
	}
	return obj, tools.Result{}, true
}

// policyValue parses a policy from an API answer; nil for none (Exoscale allows everything).
// Fields this server does not know are dropped: the answer is Exoscale's own.
func policyValue(v any) (*policy.Policy, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	keep := map[string]any{"services": map[string]any{}}
	for _, k := range []string{"default-service-strategy", "services"} {
		if x, ok := m[k]; ok && x != nil {
			keep[k] = x
		}
	}
	raw, err := json.Marshal(keep)
	if err != nil {
		return nil, err
	}
	return policy.Parse(raw)
}

func joinProblems(ps []policy.Problem) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n- ")
}

// Resources returns exoscale://iam/operations and exoscale://iam/policy-guide.
func Resources() []tools.Resource {
	return []tools.Resource{
		{
			URI: "exoscale://iam/operations", Name: "iam-operations", Title: "Operations an IAM policy can name", MIMEType: "application/json",
			Description: "Every Exoscale API operation by IAM service class: operationId, method, path, read|write.",
			Read: func(_ context.Context, uri string) ([]tools.ResourceContent, error) {
				type svc struct {
					Service    string  `json:"service"`
					Documented bool    `json:"documented"`
					Operations []opRow `json:"operations"`
				}
				var out []svc
				for _, s := range schemas.Services() {
					e := svc{Service: s.Name, Documented: s.Documented}
					for _, op := range schemas.OperationsOf(s.Name) {
						r := row(op)
						r.Service, r.Inferred = "", false // said once per service
						e.Operations = append(e.Operations, r)
					}
					out = append(out, e)
				}
				return jsonContent(uri, map[string]any{"services": out})
			},
		},
		{
			URI: "exoscale://iam/policy-guide", Name: "iam-policy-guide", Title: "How Exoscale IAM policies work", MIMEType: "text/markdown",
			Description: "How policies are evaluated, the CEL bindings, and examples: a few operations, one zone, read-only, deny one thing.",
			Read: func(_ context.Context, uri string) ([]tools.ResourceContent, error) {
				return []tools.ResourceContent{{URI: uri, MIMEType: "text/markdown", Text: policy.Guide()}}, nil
			},
		},
	}
}

// operationURIPrefix is the resource template's fixed part.
const operationURIPrefix = "exoscale://api/operations/"

// ResourceTemplates returns exoscale://api/operations/{operation}.
func ResourceTemplates() []tools.ResourceTemplate {
	return []tools.ResourceTemplate{{
		URITemplate: operationURIPrefix + "{operation}", Name: "api-operation", Title: "One Exoscale API operation", MIMEType: "application/json",
		Description: "An operation's method, path, parameters and request-body fields (name, type, required), for all 374 operations: e.g. to write a rule on parameters.<name>.",
		Read: func(_ context.Context, uri string) ([]tools.ResourceContent, error) {
			name := strings.TrimPrefix(uri, operationURIPrefix)
			op, ok := schemas.LookupAPIOperation(name)
			if !ok {
				_, err := policy.Restrict(policy.Restriction{Operations: []string{name}})
				return nil, fmt.Errorf("%s: %v; exoscale://iam/operations lists them", uri, err)
			}
			params := op.Params
			if params == nil {
				params = []schemas.APIParam{}
			}
			body := op.Body
			if body == nil {
				body = []schemas.APIField{}
			}
			sort.SliceStable(params, func(i, j int) bool { return params[i].In < params[j].In })
			return jsonContent(uri, map[string]any{
				"operation": op.Name, "method": op.Method, "path": op.Path, "service": op.Service, "service-inferred": op.ServiceInferred,
				"access": op.Access, "async": op.Async, "parameters": params, "body": body,
			})
		},
	}}
}

func jsonContent(uri string, v any) ([]tools.ResourceContent, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return []tools.ResourceContent{{URI: uri, MIMEType: "application/json", Text: string(b)}}, nil
}

// servesOf is which tools the model can call, as the engine that serves c says (every tool
// when c cannot say): a text names another tool only when it is served.
func servesOf(c Caller) func(string) bool {
	if s, ok := c.(interface{ Serves(name string) bool }); ok && s != nil {
		return s.Serves
	}
	return func(string) bool { return true }
}

// listedBy is format with the tool that lists operation names, or "" when it is not served.
func listedBy(serves func(string) bool, format string) string {
	if !serves(opListOps) {
		return ""
	}
	return fmt.Sprintf(format, opListOps)
}
