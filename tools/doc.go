// Package tools is the engine of exoscale-keys-mcp: it runs Exoscale API operations from the
// catalog (package schemas) for any transport, and holds the registry of what the server
// serves. It imports no MCP library.
//
// One tool call travels straight down and back up:
//
//	MCP client
//	  └─ transport        stdio, or streamable HTTP with its checks (main wires them)
//	      └─ adapter       package tools/mcpadapter: the only code that speaks mcp-go. Registry
//	         │             tools become MCP tools; a call's arguments, session, progress token
//	         │             and input responses become a Peer in the context
//	         └─ engine     Engine.Call(ctx, operation, args) → Result, the same stages for
//	            │          every operation:
//	            │            validate → guards → secret-directory check → dry run →
//	            │            confirmation → send → await → deliver secrets → audit
//	            ├─ schemas     the catalog: method, path, schemas and per-operation behaviour
//	            │              as data (secret files, lookups, guards, advice)
//	            └─ apiclient   signs the request, retries what is safe, waits for operations
//	                 └─ Exoscale API v2
//
// A call's arguments are validated against the operation's input schema and decoded once into
// a typed call (path, query, body, the local dry-run and allow-duplicate-name flags) that the
// stages share. Every way a model can act on ends in a Result with a typed Outcome (OK,
// Invalid, Refused, DryRun, Declined, Failed, NeedsInput) and, for a failure, a text that says
// what happened and what to do next, naming only tools the operator serves (SetServed; a hidden
// tool becomes what the user can do in the Exoscale portal). A Go error is a bug (a schema that does not compile, an
// impossible state): the adapter logs it and answers with a JSON-RPC internal error.
//
// The seams for what comes next:
//   - Registry holds catalog tools and composite tools side by side, plus resources, resource
//     templates and prompts. A composite tool calls its steps through Engine.Call, so each
//     step is validated, guarded, confirmed, audited and has its secrets delivered; it reads
//     each step's Outcome (DryRun, Declined, NeedsInput) to decide what to do.
//   - LockoutChecker decides whether a call would lock the server out (the built-in
//     SelfLockoutGuard follows the catalog's Lockout rules and fails closed); a policy engine
//     plugs in through Options.Lockout.
//   - Locker serialises creates of one name (LocalLocker in one process); Sealer and
//     NonceStore seal confirmation request states and make them single-use (HMACSealer with a
//     per-process key, LocalNonceStore). Replicas plug shared ones in through Options.
//
// Confirmations follow MCP multi round-trip requests: a call that needs the human's yes ends
// with NeedsInput, a Question and a request state sealed with HMAC-SHA256 that binds the tool,
// a digest of its arguments, the principal, an expiry and a nonce. An answer counts only when
// it comes back with a valid state for exactly that call, once.
package tools
