package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// Handler serves one tool call. A returned error is a bug (the adapter answers with an
// internal error and logs it); everything a model can act on is a Result.
type Handler func(ctx context.Context, args map[string]any) (Result, error)

// Annotations are the MCP tool hints, all four stated explicitly.
type Annotations struct {
	ReadOnly, Destructive, Idempotent, OpenWorld bool
}

// Tool is one tool as the registry holds it: a catalog operation or a composite tool.
type Tool struct {
	Name, Title, Toolset, Description string
	InputSchema                       json.RawMessage
	OutputSchema                      json.RawMessage // may be empty
	Annotations                       Annotations
	// Access decides read-only exposure: only schemas.Read tools are served under --read-only.
	Access  schemas.Access
	Handler Handler
}

// Resource is a fixed MCP resource.
type Resource struct {
	URI, Name, Title, Description, MIMEType string
	Read                                    func(ctx context.Context, uri string) ([]ResourceContent, error)
}

// ResourceTemplate is an MCP resource template (RFC 6570 URI template).
type ResourceTemplate struct {
	URITemplate, Name, Title, Description, MIMEType string
	Read                                            func(ctx context.Context, uri string) ([]ResourceContent, error)
}

// ResourceContent is one text content of a resource read.
type ResourceContent struct {
	URI, MIMEType, Text string
}

// Prompt is an MCP prompt.
type Prompt struct {
	Name, Title, Description string
	Arguments                []PromptArgument
	Get                      func(ctx context.Context, args map[string]string) (PromptResult, error)
	// Needs are the tools the prompt's guide tells the model to call: a filtered registry
	// serves the prompt only when it serves all of them, so a prompt never sends the model to
	// a tool it cannot call (read-only mode, a toolset filter).
	Needs []string
}

// PromptArgument is one argument of a prompt.
type PromptArgument struct {
	Name, Description string
	Required          bool
}

// PromptResult is what a prompt renders: a description and messages.
type PromptResult struct {
	Description string
	Messages    []PromptMessage
}

// PromptMessage is one message of a prompt: Role "user" or "assistant", text content.
type PromptMessage struct {
	Role, Text string
}

// Registry holds what the server serves: tools (catalog and composite side by side),
// resources, resource templates and prompts, in the order they were added. It is built at
// start-up and read-only afterwards.
type Registry struct {
	tools     []Tool
	resources []Resource
	templates []ResourceTemplate
	prompts   []Prompt
}

// AddTools adds tools; a name already present is a bug.
func (r *Registry) AddTools(ts ...Tool) error {
	for _, t := range ts {
		if t.Name == "" || t.Handler == nil || len(t.InputSchema) == 0 {
			return fmt.Errorf("tools: tool %q needs a name, an input schema and a handler", t.Name)
		}
		if _, ok := r.Tool(t.Name); ok {
			return fmt.Errorf("tools: tool %q registered twice", t.Name)
		}
		r.tools = append(r.tools, t)
	}
	return nil
}

// AddResources adds fixed resources.
func (r *Registry) AddResources(rs ...Resource) { r.resources = append(r.resources, rs...) }

// AddResourceTemplates adds resource templates.
func (r *Registry) AddResourceTemplates(ts ...ResourceTemplate) {
	r.templates = append(r.templates, ts...)
}

// AddPrompts adds prompts.
func (r *Registry) AddPrompts(ps ...Prompt) { r.prompts = append(r.prompts, ps...) }

// Tools returns the tools, in order.
func (r *Registry) Tools() []Tool { return slices.Clone(r.tools) }

// Tool returns the tool of that name.
func (r *Registry) Tool(name string) (Tool, bool) {
	i := slices.IndexFunc(r.tools, func(t Tool) bool { return t.Name == name })
	if i < 0 {
		return Tool{}, false
	}
	return r.tools[i], true
}

// Resources returns the fixed resources.
func (r *Registry) Resources() []Resource { return slices.Clone(r.resources) }

// ResourceTemplates returns the resource templates.
func (r *Registry) ResourceTemplates() []ResourceTemplate { return slices.Clone(r.templates) }

// Prompts returns the prompts.
func (r *Registry) Prompts() []Prompt { return slices.Clone(r.prompts) }

// Filter selects which tools are exposed. A tool that is not exposed is neither listed nor
// callable. Exclude wins over everything.
type Filter struct {
	ReadOnly bool     // only read tools (list/get); reveal-* tools return secrets, so they are out too
	Toolsets []string // empty = all
	Tools    []string // empty = all
	Exclude  []string
}

// Allows reports whether t is exposed under the filter.
func (f Filter) Allows(t Tool) bool {
	switch {
	case slices.Contains(f.Exclude, t.Name):
		return false
	case f.ReadOnly && t.Access != schemas.Read:
		return false
	case len(f.Toolsets) > 0 && !slices.Contains(f.Toolsets, t.Toolset):
		return false
	case len(f.Tools) > 0 && !slices.Contains(f.Tools, t.Name):
		return false
	}
	return true
}

// Filtered returns a registry with only the tools f allows, and the prompts whose tools it
// still serves (resources kept). A
// name in f that the registry does not know is an error, so a typo in --tools does not
// silently hide everything.
func (r *Registry) Filtered(f Filter) (*Registry, error) {
	var bad []string
	var sets []string
	for _, t := range r.tools {
		if !slices.Contains(sets, t.Toolset) {
			sets = append(sets, t.Toolset)
		}
	}
	for _, ts := range f.Toolsets {
		if !slices.Contains(sets, ts) {
			bad = append(bad, fmt.Sprintf("unknown toolset %q (known: %s)", ts, strings.Join(sets, ", ")))
		}
	}
	for _, name := range append(slices.Clone(f.Tools), f.Exclude...) {
		if _, ok := r.Tool(name); !ok {
			bad = append(bad, fmt.Sprintf("unknown tool %q (exoscale-keys-mcp tools lists them)", name))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("tool filter: %s", strings.Join(bad, "; "))
	}
	out := &Registry{resources: r.resources, templates: r.templates}
	for _, t := range r.tools {
		if f.Allows(t) {
			out.tools = append(out.tools, t)
		}
	}
	for _, p := range r.prompts {
		if !slices.ContainsFunc(p.Needs, func(name string) bool { _, ok := out.Tool(name); return !ok }) {
			out.prompts = append(out.prompts, p)
		}
	}
	return out, nil
}

// CatalogTool is the tool of a catalog operation, served by e.Call.
func (e *Engine) CatalogTool(op schemas.Operation) Tool {
	name := op.Name
	return Tool{
		Name: op.Name, Title: op.Title, Toolset: op.Toolset, Description: op.Description,
		InputSchema: op.InputSchema, OutputSchema: op.OutputSchema,
		Annotations: Annotations{ReadOnly: op.ReadOnly(), Destructive: op.Destructive(), Idempotent: op.Idempotent(), OpenWorld: true},
		Access:      op.Access,
		Handler: func(ctx context.Context, args map[string]any) (Result, error) {
			return e.Call(ctx, name, args)
		},
	}
}

// CatalogTools returns a tool per catalog operation, in catalog order.
func (e *Engine) CatalogTools() []Tool {
	ops := schemas.Catalog()
	out := make([]Tool, 0, len(ops))
	for _, op := range ops {
		out = append(out, e.CatalogTool(op))
	}
	return out
}

// NewRegistry returns a registry holding the catalog's tools, filtered by f.
func (e *Engine) NewRegistry(f Filter) (*Registry, error) {
	var r Registry
	if err := r.AddTools(e.CatalogTools()...); err != nil {
		return nil, err
	}
	return r.Filtered(f)
}
