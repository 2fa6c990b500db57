package tools

import (
	"fmt"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// MarkdownTable renders the tool table of the README from the catalog, then the extra tools
// (composite and local tools, which send no single request of their own).
func MarkdownTable(extra ...Tool) string {
	var b strings.Builder
	b.WriteString("| Tool | Toolset | Request | Hints | What it does |\n|---|---|---|---|---|\n")
	for _, op := range schemas.Catalog() {
		var hints []string
		if op.ReadOnly() {
			hints = append(hints, "read-only")
		}
		if op.Destructive() {
			hints = append(hints, "destructive")
		}
		if op.Idempotent() {
			hints = append(hints, "idempotent")
		}
		if len(op.Secrets) > 0 {
			hints = append(hints, "secret")
		}
		summary := firstSentence(op.Description)
		fmt.Fprintf(&b, "| `%s` | %s | `%s %s` | %s | %s |\n", op.Name, op.Toolset, op.Method, op.Path,
			strings.Join(hints, ", "), strings.ReplaceAll(strings.TrimSuffix(summary, "."), "|", "\\|")+".")
	}
	for _, t := range extra {
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
		fmt.Fprintf(&b, "| `%s` | %s | (none of its own) | %s | %s |\n", t.Name, t.Toolset,
			strings.Join(hints, ", "), strings.ReplaceAll(strings.TrimSuffix(firstSentence(t.Description), "."), "|", "\\|")+".")
	}
	return b.String()
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
