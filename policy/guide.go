package policy

import _ "embed"

//go:embed guide.md
var guide string

// Guide is how Exoscale IAM policies work, in our words, with the examples a model needs
// (restrict to a few operations, to a zone, to read-only, deny one thing): the text of the MCP
// resource exoscale://iam/policy-guide. Its examples are tested to parse, pass Check and decide
// as the text says.
func Guide() string { return guide }
