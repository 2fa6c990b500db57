package tools

import (
	"fmt"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// MarkdownTable renders the tool table of the README from the catalog.
func MarkdownTable() string {
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
		summary, _, _ := strings.Cut(op.Description, ". ")
		fmt.Fprintf(&b, "| `%s` | %s | `%s %s` | %s | %s |\n", op.Name, op.Toolset, op.Method, op.Path,
			strings.Join(hints, ", "), strings.ReplaceAll(strings.TrimSuffix(summary, "."), "|", "\\|")+".")
	}
	return b.String()
}
