package tools

import (
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// SetServed tells the engine which tools the operator lets the model call (--read-only,
// --toolsets, --tools, --exclude-tools), so that every advice text names only tools the model
// can call and says what to tell the user instead. nil means everything is served, the
// default: tests and callers without a registry keep the full advice.
//
// Call it once the filtered registry exists and before the engine serves calls. It is safe to
// call concurrently with calls (the function is swapped atomically), but a call already
// running may still advise with the previous set; served itself must be safe for concurrent
// use (a lookup in a registry that is no longer modified is).
func (e *Engine) SetServed(served func(name string) bool) {
	if served == nil {
		e.served.Store(nil)
		return
	}
	e.served.Store(&served)
}

// Serves reports whether the model can call the tool name: what SetServed was given, or true
// when it was given nothing. Composite tools ask it before naming another tool.
func (e *Engine) Serves(name string) bool {
	if e == nil {
		return true
	}
	f := e.served.Load()
	return f == nil || (*f)(name)
}

// allServed is the served set of an engine that was told nothing.
func allServed(string) bool { return true }

// servesAll reports whether every tool in names is served.
func servesAll(serves func(string) bool, names ...string) bool {
	for _, n := range names {
		if !serves(n) {
			return false
		}
	}
	return true
}

// catalogNamesIn returns the catalog operations a text of catalog data names (an AfterUnknown,
// an InUse advice), so the engine can tell whether it may say it.
func catalogNamesIn(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-'
	}) {
		if schemas.Has(w) {
			out = append(out, w)
		}
	}
	return out
}

// sayable reports whether text of catalog data names only served tools.
func sayable(serves func(string) bool, text string) bool {
	return servesAll(serves, catalogNamesIn(text)...)
}

// portal is what the model can tell the user when the tool for a next step is not served.
const portal = "the Exoscale portal"
