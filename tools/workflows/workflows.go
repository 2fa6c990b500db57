// Package workflows holds the composite tools of exoscale-keys-mcp: the tasks of Exoscale's API
// key guide as single calls (a restricted key, a key from a template, a rotation, an audit of
// keys and roles, the server's own identity).
//
// A composite never talks to Exoscale itself: each step is a catalog operation run through
// tools.Engine.Call, so validation, the guards, confirmation, dry run, audit and secret
// delivery apply to every step as they do to a direct call. Policies are built and judged by
// package policy. A plan that needs the human's yes asks once for the whole plan
// (Engine.ConfirmPlan), so a composite never stops half-way between two changes.
package workflows

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// Options are what the composite tools need to know of the server besides the engine.
type Options struct {
	// Filter is the operator's exposure settings (--read-only, --toolsets, --tools,
	// --exclude-tools), reported by get-server-identity.
	Filter tools.Filter
}

// The composite tools' names.
const (
	CreateRestrictedKey = "create-restricted-api-key"
	CloneKey            = "clone-api-key"
	RotateKey           = "rotate-api-key"
	AuditKeys           = "audit-iam-keys"
	ServerIdentity      = "get-server-identity"
)

// Tools returns the composite tools, served by e. With e nil they only describe themselves
// (the README's table); calling one is then a bug.
func Tools(e *tools.Engine, opts Options) []tools.Tool {
	w := &workflows{e: e, opts: opts}
	ts := []tools.Tool{
		w.restrictedTool(),
		w.cloneTool(),
		w.rotateTool(),
		w.auditTool(),
		w.identityTool(),
	}
	for i := range ts {
		ts[i].OutputSchema = outputSchemas[ts[i].Name]
	}
	return ts
}

type workflows struct {
	e    *tools.Engine
	opts Options
}

// compact returns a schema literal compacted, as tools/list sends it and the budget counts it.
func compact(s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic("workflows: schema literal: " + err.Error()) // a literal in this package: a bug
	}
	return b.Bytes()
}

// validated returns t with a handler that validates the arguments (validate) before run.
func validated(t tools.Tool, run func(context.Context, map[string]any) (tools.Result, error)) tools.Tool {
	t.Handler = func(ctx context.Context, args map[string]any) (tools.Result, error) {
		if res, ok, err := validate(t, args); !ok {
			return res, err
		}
		return run(ctx, args)
	}
	return t
}

// validate checks a composite's arguments against its input schema, with the catalog's
// validator and its model-readable errors.
func validate(t tools.Tool, args map[string]any) (tools.Result, bool, error) {
	err := schemas.Validate(schemas.Operation{Name: t.Name, InputSchema: t.InputSchema}, args)
	if err == nil {
		return tools.Result{}, true, nil
	}
	var verr *schemas.ValidationError
	if !errors.As(err, &verr) {
		return tools.Result{}, false, fmt.Errorf("workflows: validating %s: %w", t.Name, err)
	}
	return tools.Failure(tools.Invalid, verr.Error()+"\nNothing was sent to Exoscale; fix the arguments and call again."), false, nil
}

// step is one catalog call of a composite and what it answered.
type step struct {
	op  string
	res tools.Result
	obj map[string]any // the decoded value, nil when there is none
}

func (s step) ok() bool { return s.res.Outcome == tools.OK }

// call runs one step through the engine.
func (w *workflows) call(ctx context.Context, op string, args map[string]any) (step, error) {
	res, err := w.e.Call(ctx, op, args)
	if err != nil {
		return step{}, err
	}
	s := step{op: op, res: res}
	if len(res.Value) > 0 {
		s.obj, _ = res.Object()
	}
	return s, nil
}

// failed passes on a step that did not succeed, its outcome kept and its text prefixed with
// what the composite was doing.
func failed(tool string, s step, doing, after string) tools.Result {
	text := s.res.Text
	if text == "" {
		text = fmt.Sprintf("%s ended with %s", s.op, s.res.Outcome)
	}
	msg := fmt.Sprintf("%s: %s failed: %s", tool, doing, text)
	if after != "" {
		msg += "\n" + after
	}
	r := tools.Failure(s.res.Outcome, msg)
	if s.res.Outcome == tools.NeedsInput { // never expected: the plan was confirmed first
		r = tools.Failure(tools.Refused, msg)
	}
	return r
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func boolArg(args map[string]any, k string, def bool) bool {
	if b, ok := args[k].(bool); ok {
		return b
	}
	return def
}

func strings_(args map[string]any, k string) []string {
	raw, _ := args[k].([]any)
	var out []string
	for _, v := range raw {
		if s, ok := v.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// policyArgs turns a policy into the JSON-decoded arguments a tool takes.
func policyArgs(p *policy.Policy) (map[string]any, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// rolePolicy reads the policy of a role object; no policy is Exoscale's allow-everything.
func rolePolicy(role map[string]any) (*policy.Policy, error) {
	raw, ok := role["policy"]
	if !ok || raw == nil {
		return policy.AllowAll(), nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	return policy.Parse(b)
}

// items returns the objects of a list result's array field.
func items(obj map[string]any, field string) []map[string]any {
	raw, _ := obj[field].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, v := range raw {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// placeholderRoleID stands for the id of a role a dry run does not create; the request shown
// names it in words.
const placeholderRoleID = "00000000-0000-0000-0000-000000000000"

// dryRunResult gathers the steps' dry runs into one answer.
func dryRunResult(extra map[string]any, steps ...step) (tools.Result, error) {
	var reqs []json.RawMessage
	for _, s := range steps {
		v := bytes.ReplaceAll(s.res.Value, []byte(placeholderRoleID), []byte("(id of the new role)"))
		reqs = append(reqs, json.RawMessage(fmt.Sprintf(`{"step":%q,"request":%s}`, s.op, v)))
	}
	out := map[string]any{"dry-run": true, "requests": reqs}
	for k, v := range extra {
		out[k] = v
	}
	return tools.ValueResult(tools.DryRun, out, "Dry run: validated and guarded; nothing was sent. These are the requests a call without dry-run sends, in order:")
}

// notDryRun reports a step of a dry run that did not answer with its request.
func notDryRun(tool string, s step) tools.Result {
	return failed(tool, s, "the dry run of "+s.op, "Nothing was sent.")
}

// toolCall is a tool call as a result names it: the fix of a finding, the next step. One the
// operator does not serve is still given, as data for a human, marked not-served.
type toolCall struct {
	Tool      string         `json:"tool"`
	Arguments map[string]any `json:"arguments,omitempty"`
	NotServed bool           `json:"not-served,omitempty"`
	Note      string         `json:"note,omitempty"`
}

// notServedNote says what a call the model cannot make is for.
const notServedNote = "not served here: the model cannot call it; the operator can make this change in the Exoscale portal"

// served marks c when the model cannot call its tool.
func (w *workflows) served(c *toolCall) *toolCall {
	if c != nil && !w.e.Serves(c.Tool) {
		c.NotServed, c.Note = true, notServedNote
	}
	return c
}

// callAdvice is the sentence that tells the model to call tool with args ("call delete-api-key
// {"id":"EXO…"}"), or, when tool is not served, to have the user do instead what it would do.
func (w *workflows) callAdvice(tool string, args map[string]any, instead string) string {
	if !w.e.Serves(tool) {
		return instead
	}
	b, err := json.Marshal(args)
	if err != nil {
		b = []byte("{}")
	}
	return "call " + tool + " " + string(b)
}

func quoteList(ss []string) string {
	return "'" + strings.Join(ss, "', '") + "'"
}
