package tools

import (
	"fmt"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// MarkdownTable renders the tool table of the README: the catalog's operations, then local
// tools (answered by the server itself, no request of their own), then composite tools (several
// operations through the engine).
func MarkdownTable(local, composite []Tool) string {
	var b strings.Builder
	b.WriteString("| Tool | Toolset | Request | Hints | What it does |\n|---|---|---|---|---|\n")
	var describe *Engine // a tool's description needs no engine; its handler is never called here
	for _, op := range schemas.Catalog() {
		tableRow(&b, describe.CatalogTool(op), fmt.Sprintf("`%s %s`", op.Method, op.Path), len(op.Secrets) > 0)
	}
	for _, t := range local {
		tableRow(&b, t, "(none of its own)", false)
	}
	for _, t := range composite {
		// A composite that creates or rotates delivers the new key's secret.
		tableRow(&b, t, "composite", t.Access == schemas.Create || t.Access == schemas.Rotate)
	}
	return b.String()
}

func tableRow(b *strings.Builder, t Tool, request string, secret bool) {
	var hints []string
	if t.Annotations.ReadOnly {
		hints = append(hints, "read-only")
	}
	if t.Annotations.Destructive {
		hints = append(hints, "destructive")
	}
	if t.Annotations.Idempotent {
		hints = append(hints, "idempotent")
	}
	if secret {
		hints = append(hints, "secret")
	}
	summary := strings.ReplaceAll(strings.TrimSuffix(firstSentence(t.Description), "."), "|", "\\|") + "."
	fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", t.Name, t.Toolset, request, strings.Join(hints, ", "), summary)
}

// firstSentence ends at the first ". " before a capital letter, so "e.g. x" stays whole.
func firstSentence(s string) string {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' && s[i+2] >= 'A' && s[i+2] <= 'Z' {
			return s[:i]
		}
	}
	return s
}
