package tools

import "context"

// CallObserver sees every tool call where the registry hands it to a tool, once per call the
// client made (a composite tool's steps are not counted again): for metrics. It receives the
// tool's name and how the call ended, never its arguments.
type CallObserver interface {
	// CallStarted is called as a call begins; done is called once as it ends, with the
	// handler's result and error and the call's context (cancelled or not).
	CallStarted(ctx context.Context, tool string) (done func(ctx context.Context, res Result, err error))
}

// Observed returns a copy of r whose tools report each call to o. r itself is unchanged.
func (r *Registry) Observed(o CallObserver) *Registry {
	out := &Registry{resources: r.Resources(), templates: r.ResourceTemplates(), prompts: r.Prompts()}
	for _, t := range r.tools {
		h, name := t.Handler, t.Name
		t.Handler = func(ctx context.Context, args map[string]any) (Result, error) {
			done := o.CallStarted(ctx, name)
			res, err := h(ctx, args)
			done(ctx, res, err)
			return res, err
		}
		out.tools = append(out.tools, t)
	}
	return out
}
