package workflows

import (
	"context"
	"fmt"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// Prompts returns the MCP prompts: short guides to the composite tools, with the user's
// words as arguments.
func Prompts() []tools.Prompt {
	return []tools.Prompt{
		{
			Name: "create-restricted-key", Title: "Create a restricted API key",
			Needs:       []string{"list-iam-operations", CreateRestrictedKey},
			Description: "Create an IAM API key allowed only what the user describes.",
			Arguments: []tools.PromptArgument{
				{Name: "name", Description: "the key's name", Required: true},
				{Name: "allow", Description: "what the key may do, in the user's words (e.g. list and get compute instances)", Required: true},
				{Name: "zones", Description: "zones to limit it to, if any"},
			},
			Get: func(_ context.Context, a map[string]string) (tools.PromptResult, error) {
				var b strings.Builder
				fmt.Fprintf(&b, "Create an Exoscale IAM API key named %q that may only: %s.\n", a["name"], a["allow"])
				b.WriteString("1. Map that to operationIds (list-iam-operations lists them; e.g. list-instances, get-instance) or to whole service classes.\n")
				fmt.Fprintf(&b, "2. Preview: create-restricted-api-key {\"name\":%q,\"operations\":[...]%s,\"dry-run\":true} and show the user the policy.\n", a["name"], zonesArg(a["zones"]))
				b.WriteString("3. Call it again without dry-run. Add \"reuse-role\":true to use an existing role with exactly this policy.\n")
				b.WriteString("4. Tell the user where the secret file is (never the secret), and what the result's notes say was added and why.")
				return tools.PromptResult{Description: "Restricted key " + a["name"], Messages: []tools.PromptMessage{{Role: "user", Text: b.String()}}}, nil
			},
		},
		{
			Name: "rotate-key", Title: "Rotate an API key",
			Needs:       []string{"list-api-keys", RotateKey, "delete-api-key"},
			Description: "Replace an IAM API key by a new one with the same name and role.",
			Arguments: []tools.PromptArgument{
				{Name: "key", Description: "the key's name or id (EXO...)", Required: true},
				{Name: "retire-old", Description: "yes to delete the old key at once; default: keep it until the new one is in use"},
			},
			Get: func(_ context.Context, a map[string]string) (tools.PromptResult, error) {
				retire := strings.EqualFold(strings.TrimSpace(a["retire-old"]), "yes") || strings.EqualFold(strings.TrimSpace(a["retire-old"]), "true")
				var b strings.Builder
				fmt.Fprintf(&b, "Rotate the Exoscale IAM API key %q.\n", a["key"])
				b.WriteString("1. If that is a name, find its id (EXO...) with list-api-keys.\n")
				fmt.Fprintf(&b, "2. rotate-api-key {\"id\":\"<id>\",\"retire-old\":%t}: one call creates the new key, delivers its secret and renames the old secret file .retired.\n", retire)
				if retire {
					b.WriteString("3. The old key is deleted in the same call: warn the user first that whatever still uses it stops working.")
				} else {
					b.WriteString("3. Tell the user to switch to the new key, then make the delete-api-key call the result gives.")
				}
				return tools.PromptResult{Description: "Rotate " + a["key"], Messages: []tools.PromptMessage{{Role: "user", Text: b.String()}}}, nil
			},
		},
		{
			Name: "review-key-hygiene", Title: "Review key hygiene",
			Needs:       []string{AuditKeys, ServerIdentity},
			Description: "Find unrestricted, over-privileged, unused or stale keys and roles, and fix them.",
			Arguments: []tools.PromptArgument{
				{Name: "focus", Description: "what the user worries about, in their words (optional)"},
				{Name: "inactive-days", Description: "days without activity that make a key stale (default 90)"},
			},
			Get: func(_ context.Context, a map[string]string) (tools.PromptResult, error) {
				var b strings.Builder
				b.WriteString("Review the Exoscale organization's key hygiene")
				if f := strings.TrimSpace(a["focus"]); f != "" {
					fmt.Fprintf(&b, ", with attention to: %s", f)
				}
				b.WriteString(".\n")
				days := strings.TrimSpace(a["inactive-days"])
				if days == "" {
					days = "90"
				}
				fmt.Fprintf(&b, "1. audit-iam-keys {\"inactive-days\":%s}: one call returns findings by severity with why and fix.\n", days)
				b.WriteString("2. get-server-identity shows what this server itself can do.\n")
				b.WriteString("3. Summarise the high findings first. Propose each fix call with dry-run:true, and make it only after the user agrees. Events record changes only: a key with no event may still read.")
				return tools.PromptResult{Description: "Key hygiene review", Messages: []tools.PromptMessage{{Role: "user", Text: b.String()}}}, nil
			},
		},
	}
}

func zonesArg(zones string) string {
	var zs []string
	for _, z := range strings.FieldsFunc(zones, func(r rune) bool { return r == ',' || r == ' ' }) {
		zs = append(zs, fmt.Sprintf("%q", z))
	}
	if len(zs) == 0 {
		return ""
	}
	return `,"zones":[` + strings.Join(zs, ",") + "]"
}
