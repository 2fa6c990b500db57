package tools

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// Options configure an Engine.
type Options struct {
	Client *apiclient.Client
	Logger *slog.Logger

	// Secrets decides how created or revealed secrets reach the user.
	Secrets SecretDelivery
	// Guards protects the server's own access and refuses duplicate creates.
	Guards GuardOptions
	// Confirm asks the human before some calls.
	Confirm ConfirmOptions
	// Audit, when set, receives one record per call that changes something.
	Audit *AuditLog
	// Transport names the transport in audit records ("stdio", "http").
	Transport string
	// WaitTimeout bounds the wait for an asynchronous operation (default 2 minutes): past it
	// the call ends, telling the model to follow up with the operation tool.
	WaitTimeout time.Duration

	// Locker serialises creates of one name (default: in this process). A shared lock lets
	// several replicas do the same.
	Locker Locker
	// Lockout decides whether a call would lock the server out (default: the built-in
	// self-lockout guard, see NewSelfLockoutGuard).
	Lockout LockoutChecker
	// Sealer seals and opens confirmation request states (default: HMAC-SHA256 with a random
	// per-process key). Replicas that share a key accept each other's states.
	Sealer Sealer
	// Nonces makes each sealed state single-use (default: in this process).
	Nonces NonceStore
	// Now is the clock (default time.Now), for tests of expiry.
	Now func() time.Time
}

// DefaultWaitTimeout is how long a call waits for its operation by default.
const DefaultWaitTimeout = 2 * time.Minute

// Engine runs catalog operations: Call is the one entry point, and every operation goes
// through the same stages. It imports no MCP library: package mcpadapter serves it over MCP.
type Engine struct {
	client    *apiclient.Client
	log       *slog.Logger
	secrets   SecretDelivery
	guards    GuardOptions
	confirm   ConfirmOptions
	audit     *AuditLog
	transport string
	wait      time.Duration
	locker    Locker
	lockout   LockoutChecker
	sealer    Sealer
	nonces    NonceStore
	now       func() time.Time

	ops map[string]*opSpec

	written secretIndex // which secret files this process wrote, by key id

	// served is the operator's filter of tools (SetServed); nil = everything is served.
	served atomic.Pointer[func(string) bool]
}

// opSpec is a catalog operation with what the engine computes from it once.
type opSpec struct {
	op         schemas.Operation
	bodyParams func() []string // parsed on the operation's first call, not at start-up
}

// New returns an Engine. It does no I/O: start-up stays fast for clients that spawn stdio
// servers often.
func New(opts Options) (*Engine, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("tools: no API client")
	}
	if err := opts.Secrets.validate(); err != nil {
		return nil, err
	}
	if err := opts.Confirm.validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		client:    opts.Client,
		log:       log,
		secrets:   opts.Secrets,
		guards:    opts.Guards,
		confirm:   opts.Confirm,
		audit:     opts.Audit,
		transport: opts.Transport,
		wait:      cmp.Or(opts.WaitTimeout, DefaultWaitTimeout),
		locker:    opts.Locker,
		lockout:   opts.Lockout,
		sealer:    opts.Sealer,
		nonces:    opts.Nonces,
		now:       opts.Now,
		ops:       map[string]*opSpec{},
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.locker == nil {
		e.locker = NewLocalLocker()
	}
	if e.lockout == nil {
		e.lockout = NewSelfLockoutGuard(opts.Client, log, opts.Guards.Zone)
	}
	if e.sealer == nil {
		s, err := NewHMACSealer(nil)
		if err != nil {
			return nil, err
		}
		e.sealer = s
	}
	if e.nonces == nil {
		e.nonces = NewLocalNonceStore(e.now)
	}
	for _, op := range schemas.Catalog() {
		e.ops[op.Name] = &opSpec{op: op, bodyParams: sync.OnceValue(op.BodyParams)}
	}
	return e, nil
}

// Instructions is the MCP "instructions" text for the tools reg serves: a short lesson in the
// workflow, true to how this engine delivers secrets. A sentence about tools that reg does not
// serve is left out (read-only mode mentions no create tool and no dry run). To add one, append
// a sentence with the condition it needs.
func (e *Engine) Instructions(reg *Registry) string {
	served := func(name string) bool { _, ok := reg.Tool(name); return ok }
	serves := func(ok func(Tool) bool) bool { return slices.ContainsFunc(reg.Tools(), ok) }
	var say []string
	for _, l := range schemas.Workflow {
		if !slices.ContainsFunc(l.Needs, func(n string) bool { return !served(n) }) && !slices.ContainsFunc(l.Unless, served) {
			say = append(say, l.Text)
		}
	}
	if serves(func(t Tool) bool { op, ok := e.ops[t.Name]; return ok && len(op.op.Secrets) > 0 }) {
		if e.secrets.Mode == DeliverFile {
			say = append(say, "Secrets (IAM secret, AI key value) are written to a file on the server's machine; results say where, never the secret.")
		} else {
			say = append(say, "Secrets (IAM secret, AI key value) are in the results: hand them to the user once and do not repeat them.")
		}
	}
	if serves(func(t Tool) bool { return t.Annotations.Destructive }) {
		say = append(say, "Deleting a key, replacing a policy and rotating are irreversible.")
	}
	if served("list-iam-operations") && served("check-iam-access") {
		say = append(say, "list-iam-operations names the operations a policy can allow; check-iam-access tests a key, role or draft policy (exoscale://iam/policy-guide explains policies).")
	}
	if served("get-server-identity") {
		say = append(say, "get-server-identity says which key and role this server acts as and what they allow.")
	}
	if serves(takesDryRun) {
		say = append(say, "Tools that change something take dry-run to preview the exact request.")
	}
	return strings.Join(say, " ")
}

// takesDryRun reports whether t's input schema has the local dry-run argument.
func takesDryRun(t Tool) bool {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(t.InputSchema, &s) != nil {
		return false
	}
	_, ok := s.Properties[schemas.ParamDryRun]
	return ok
}

// Call runs one catalog operation with its arguments (a decoded JSON object; nil = none):
//
//	validate → policy checks → guards → secret-directory check → dry run → confirmation →
//	send → await → deliver secrets → audit
//
// Every way a model can act on ends in a Result (Invalid, Refused, Failed, ... with the text
// that says what to do next). A returned error is a bug: a schema that does not compile, an
// operation that is not in the catalog, an impossible state.
//
// Composite tools call operations through Call, so every step is validated, guarded,
// confirmed, audited and has its secrets delivered; a composite passes "dry-run" in args to
// preview a step and reads the step's Outcome (DryRun, Declined, NeedsInput, ...). What the
// transport provides (session, progress, the human's answers) comes from the Peer in ctx.
func (e *Engine) Call(ctx context.Context, operation string, args map[string]any) (Result, error) {
	spec, ok := e.ops[operation]
	if !ok {
		return Result{}, fmt.Errorf("tools: no catalog operation %q", operation)
	}
	peer := PeerFrom(ctx)
	c := &call{spec: spec, op: &spec.op, started: e.now(), peer: peer, session: peer.SessionID()}
	if creds, ok := apiclient.CredentialsFrom(ctx); ok {
		c.tenant = creds.Key
	}
	res, err := e.run(ctx, c, args)
	if err != nil {
		e.log.Error("tool call failed with an internal error", "tool", operation, "error", err)
		c.outcome = Failed
		e.finish(c)
		return Result{}, err
	}
	c.outcome = res.Outcome
	if res.IsError() {
		res.Status = c.status
	}
	e.finish(c)
	return res, nil
}

// run is the pipeline. Each stage either lets the call go on or ends it with a Result.
func (e *Engine) run(ctx context.Context, c *call, args map[string]any) (Result, error) {
	op := c.op
	// A tool the operator left out is not only hidden from the model: no composite tool makes
	// a change (or reveals a secret) through it either. Reads stay open to composites: they
	// change nothing and the composites need them to look (an audit under --read-only).
	if op.Access != schemas.Read && !e.Serves(op.Name) {
		c.args = args
		return fail(Refused, "%s is not served here: the operator chose the tools this server serves (--read-only, --toolsets, --tools, --exclude-tools), and no tool makes a change through one left out. Nothing was sent; the user can make this change in the Exoscale portal.", op.Name), nil
	}
	if err := schemas.Validate(*op, args); err != nil {
		var verr *schemas.ValidationError
		if !errors.As(err, &verr) {
			return Result{}, fmt.Errorf("tools: validating %s: %w", op.Name, err)
		}
		c.args = args
		return fail(Invalid, "%s\nNothing was sent to Exoscale; fix the arguments and call again.", verr.Error()), nil
	}
	if err := c.decode(args); err != nil {
		return fail(Invalid, "%s: %v; nothing was sent.", op.Name, err), nil
	}

	if op.Duplicate != nil && !c.allowDuplicate {
		unlock, err := e.locker.Lock(ctx, createLockKey(e.ownCredentials(ctx), op.Name, c.name))
		if err != nil {
			if ctx.Err() == nil {
				// The lock itself failed (replicas that cannot reach Redis): without it a
				// second replica could mint the same name, so the create is refused.
				return fail(Refused, "%s refused: %v. Nothing was sent; reads still work.", op.Name, err), nil
			}
			return fail(Failed, "%s: cancelled while another create of the name %q was under way (%v). Nothing was sent.", op.Name, c.name, err), nil
		}
		defer unlock()
	}
	if res, refused := e.checkPolicies(c); refused {
		return res, nil
	}
	if res, refused, err := e.guard(ctx, c); err != nil || refused {
		return res, err
	}
	if len(op.Secrets) > 0 && !c.dryRun {
		if err := e.secrets.ready(); err != nil {
			return fail(Refused, "%s refused: %v. Nothing was sent, so no secret was minted; the operator must fix the secrets directory (--secrets-dir) or choose --secret-delivery inline.", op.Name, err), nil
		}
	}
	if c.dryRun {
		return c.withWarnings(e.dryRun(ctx, c))
	}
	if res, stop, err := e.confirmStage(ctx, c); err != nil || stop {
		return res, err
	}
	return c.withWarnings(e.send(ctx, c))
}

// send sends the request, awaits an asynchronous operation and shapes the answer.
func (e *Engine) send(ctx context.Context, c *call) (Result, error) {
	op := c.op
	resp, err := e.client.Do(ctx, c.req)
	if err != nil {
		var apiErr *apiclient.Error
		if errors.As(err, &apiErr) {
			c.status = apiErr.Status
			if gone(*op, apiErr) {
				return e.deleted(c, nil, false)
			}
		}
		if used := e.inUse(ctx, c, apiErr); used != "" {
			// Naming what still uses the object is the advice: the generic one would only
			// send the model looking for it.
			return fail(Failed, "%s. %s", apiErr.Error(), used), nil
		}
		return fail(Failed, "%s", describeFailure(*op, err, c.tenant != "", e.Serves)), nil
	}
	c.status = resp.Status
	if op.ArrayField != "" {
		resp.Body = wrapArray(op.ArrayField, resp.Body)
	}
	if op.Access == schemas.Read {
		// The hot path: a read answers with Exoscale's own JSON, compacted, without decoding
		// it into maps and encoding it again.
		if v := compactObject(resp.Body); v != nil {
			return Result{Outcome: OK, Value: v}, nil
		}
	}
	badBody := func(err error) Result {
		return fail(Failed, "%s: Exoscale answered %d with a body that is not a JSON object of the expected shape (%v). %s",
			op.Name, resp.Status, err, unknownOutcomeAdvice(*op, e.Serves))
	}
	if len(op.Secrets) > 0 {
		return e.deliver(ctx, c, resp.Body)
	}
	if op.Async {
		started, err := parseOperation(resp.Body)
		if err != nil {
			return badBody(err), nil
		}
		out, err := e.await(ctx, c, started)
		if err != nil {
			return fail(Failed, "%s", describeFailure(*op, err, c.tenant != "", e.Serves)), nil
		}
		if op.Access == schemas.Delete {
			return e.deleted(c, out, true)
		}
		return ValueResult(OK, out, "")
	}
	obj, err := decodeObject(resp.Body)
	if err != nil {
		return badBody(err), nil
	}
	c.touchResult(obj)
	if op.Access == schemas.Delete {
		return e.deleted(c, obj, true)
	}
	if v := compactObject(resp.Body); v != nil {
		return Result{Outcome: OK, Value: v}, nil
	}
	return ValueResult(OK, obj, "") // an empty answer (204) is an empty object
}

// ownCredentials are the credentials that sign this call: the tenant's, or the server's own.
func (e *Engine) ownCredentials(ctx context.Context) apiclient.Credentials {
	if c, ok := apiclient.CredentialsFrom(ctx); ok {
		return c
	}
	return e.client.Credentials()
}

// wrapArray puts a bare JSON array answer under field, since a tool result is an object; any
// other body is left as it is.
func wrapArray(field string, body []byte) []byte {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '[' {
		return body
	}
	name, _ := json.Marshal(field)
	out := make([]byte, 0, len(b)+len(name)+3)
	out = append(out, '{')
	out = append(out, name...)
	out = append(out, ':')
	out = append(out, b...)
	return append(out, '}')
}
