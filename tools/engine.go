package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
		e.lockout = NewSelfLockoutGuard(opts.Client, log)
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

// Instructions is the MCP "instructions" text: a short lesson in the workflow the tools serve,
// true to how this engine delivers secrets.
func (e *Engine) Instructions() string {
	secrets := "Secrets (IAM secret, AI key value) are written to a file on the server's machine; results say where, never the secret."
	if e.secrets.Mode != DeliverFile {
		secrets = "Secrets (IAM secret, AI key value) are in the results: hand them to the user once and do not repeat them."
	}
	return schemas.Workflow + secrets + " Deleting a key, replacing a policy and rotating are irreversible. Tools that change something take dry-run to preview the exact request."
}

// Call runs one catalog operation with its arguments (a decoded JSON object; nil = none):
//
//	validate → guards → secret-directory check → dry run → confirmation → send → await →
//	deliver secrets → audit
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
	e.finish(c)
	return res, nil
}

// run is the pipeline. Each stage either lets the call go on or ends it with a Result.
func (e *Engine) run(ctx context.Context, c *call, args map[string]any) (Result, error) {
	op := c.op
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
	if res, refused, err := e.guard(ctx, c); err != nil || refused {
		return res, err
	}
	if len(op.Secrets) > 0 && !c.dryRun {
		if err := e.secrets.ready(); err != nil {
			return fail(Refused, "%s refused: %v. Nothing was sent, so no secret was minted; the operator must fix the secrets directory (--secrets-dir) or choose --secret-delivery inline.", op.Name, err), nil
		}
	}
	if c.dryRun {
		return e.dryRun(ctx, c)
	}
	if res, stop, err := e.confirmStage(ctx, c); err != nil || stop {
		return res, err
	}
	return e.send(ctx, c)
}

// send sends the request, awaits an asynchronous operation and shapes the answer.
func (e *Engine) send(ctx context.Context, c *call) (Result, error) {
	op := c.op
	resp, err := e.client.Do(ctx, c.req)
	if err != nil {
		var apiErr *apiclient.Error
		if errors.As(err, &apiErr) {
			c.status = apiErr.Status
		}
		return fail(Failed, "%s", describeFailure(*op, err, c.tenant != "")), nil
	}
	c.status = resp.Status
	if op.Access == schemas.Read {
		// The hot path: a read answers with Exoscale's own JSON, compacted, without decoding
		// it into maps and encoding it again.
		if v := compactObject(resp.Body); v != nil {
			return Result{Outcome: OK, Value: v}, nil
		}
	}
	badBody := func(err error) Result {
		return fail(Failed, "%s: Exoscale answered %d with a body that is not a JSON object of the expected shape (%v). %s",
			op.Name, resp.Status, err, unknownOutcomeAdvice(*op))
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
			return fail(Failed, "%s", describeFailure(*op, err, c.tenant != "")), nil
		}
		return ValueResult(OK, out, "")
	}
	obj, err := decodeObject(resp.Body)
	if err != nil {
		return badBody(err), nil
	}
	c.touchResult(obj)
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
