// Package tools adapts the operation catalog (package schemas) to MCP tools served by mcp-go.
//
// Every tool is served by the same generic handler: validate the arguments against the
// operation's input schema, split them into path, query and body, call the Exoscale API
// (package apiclient), wait for asynchronous operations, and shape the result. Failures a model
// can act on come back as isError results whose text says what happened and what to do next;
// Go errors are kept for bugs.
package tools

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// Instructions is the MCP "instructions" text: a short lesson in the workflow the tools serve,
// true to how this handler delivers secrets.
func (h *Handler) Instructions() string {
	secrets := "Secrets (IAM secret, AI key value) are written to a file on the server's machine; results say where, never the secret."
	if h.secrets.Mode != DeliverFile {
		secrets = "Secrets (IAM secret, AI key value) are in the results: hand them to the user once and do not repeat them."
	}
	return `Manage Exoscale credentials: IAM API keys, AI API keys, IAM roles and policies.
A restricted key is a role plus a key: create-iam-role with a policy (e.g. default-service-strategy deny and one service of rules), then create-api-key with that role-id. Find ids with the list-* tools first.
` + secrets + ` Deleting a key, replacing a policy and rotating are irreversible. Tools that change something take dry-run to preview the exact request.`
}

// Filter selects which tools are exposed. A tool that is not exposed is neither listed nor
// callable. Exclude wins over everything.
type Filter struct {
	ReadOnly bool     // only read tools (list/get); reveal-* tools return secrets, so they are out too
	Toolsets []string // empty = all
	Tools    []string // empty = all
	Exclude  []string
}

// Validate reports names in the filter that do not exist, so a typo in --tools does not
// silently hide everything.
func (f Filter) Validate() error {
	var bad []string
	for _, ts := range f.Toolsets {
		if !slices.Contains(schemas.Toolsets, ts) {
			bad = append(bad, fmt.Sprintf("unknown toolset %q (known: %s)", ts, strings.Join(schemas.Toolsets, ", ")))
		}
	}
	for _, name := range append(slices.Clone(f.Tools), f.Exclude...) {
		if _, ok := schemas.Lookup(name); !ok {
			bad = append(bad, fmt.Sprintf("unknown tool %q (exoscale-keys-mcp tools lists them)", name))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("tool filter: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Allows reports whether op is exposed under the filter.
func (f Filter) Allows(op schemas.Operation) bool {
	switch {
	case slices.Contains(f.Exclude, op.Name):
		return false
	case f.ReadOnly && op.Access != schemas.Read:
		return false
	case len(f.Toolsets) > 0 && !slices.Contains(f.Toolsets, op.Toolset):
		return false
	case len(f.Tools) > 0 && !slices.Contains(f.Tools, op.Name):
		return false
	}
	return true
}

// Tool builds the MCP tool definition of op: raw input and output schemas from the catalog and
// all four annotation hints set explicitly (raw-schema tools otherwise carry none).
func Tool(op schemas.Operation) mcp.Tool {
	t := mcp.NewToolWithRawSchema(op.Name, op.Description, op.InputSchema)
	t.Title = op.Title
	if len(op.OutputSchema) > 0 {
		t.RawOutputSchema = op.OutputSchema
	}
	t.Annotations = mcp.ToolAnnotation{
		Title:           op.Title,
		ReadOnlyHint:    mcp.ToBoolPtr(op.ReadOnly()),
		DestructiveHint: mcp.ToBoolPtr(op.Destructive()),
		IdempotentHint:  mcp.ToBoolPtr(op.Idempotent()),
		OpenWorldHint:   mcp.ToBoolPtr(true),
	}
	return t
}

// Options configure a Handler.
type Options struct {
	Client *apiclient.Client
	Logger *slog.Logger
	Filter Filter

	// Secrets decides how created or revealed secrets reach the user.
	Secrets SecretDelivery
	// Guards protects the server's own access and refuses duplicate creates.
	Guards GuardOptions
	// Confirm asks the human before some calls, through MCP elicitation.
	Confirm ConfirmOptions
	// Audit, when set, receives one record per call that changes something.
	Audit *AuditLog
	// Transport names the transport in audit records ("stdio", "http").
	Transport string
	// WaitTimeout bounds the wait for an asynchronous operation (default 2 minutes): past it
	// the call ends, telling the model to follow up with get-operation.
	WaitTimeout time.Duration
}

// DefaultWaitTimeout is how long a call waits for its operation by default.
const DefaultWaitTimeout = 2 * time.Minute

// Handler serves the catalog's operations as MCP tools.
type Handler struct {
	client    *apiclient.Client
	log       *slog.Logger
	filter    Filter
	secrets   SecretDelivery
	guards    *guards
	confirm   ConfirmOptions
	audit     *AuditLog
	transport string
	wait      time.Duration
}

// New returns a Handler. It does no I/O: start-up stays fast for clients that spawn stdio
// servers often.
func New(opts Options) (*Handler, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("tools: no API client")
	}
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
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
	return &Handler{
		client:    opts.Client,
		log:       log,
		filter:    opts.Filter,
		secrets:   opts.Secrets,
		guards:    newGuards(opts.Client, opts.Guards, log),
		confirm:   opts.Confirm,
		audit:     opts.Audit,
		transport: opts.Transport,
		wait:      cmp.Or(opts.WaitTimeout, DefaultWaitTimeout),
	}, nil
}

// ServerTools returns the exposed tools with their handlers, in catalog order.
func (h *Handler) ServerTools() []server.ServerTool {
	var out []server.ServerTool
	for _, op := range schemas.Catalog() {
		if !h.filter.Allows(op) {
			continue
		}
		out = append(out, server.ServerTool{Tool: Tool(op), Handler: h.handler(op)})
	}
	return out
}

// Register adds the exposed tools to srv.
func (h *Handler) Register(srv *server.MCPServer) {
	srv.AddTools(h.ServerTools()...)
}
