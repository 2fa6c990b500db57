package schemas

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// budgetTokensPerTool is the issue's ceiling for what the model sees of one tool in tools/list,
// on average: name, description and input schema, counted as bytes/4.
const budgetTokensPerTool = 150

// modelVisibleBytes is what tools/list shows the model for op, as the budget counts it.
func modelVisibleBytes(op Operation) int {
	return len(op.Name) + len(op.Description) + len(op.InputSchema)
}

func TestModelVisibleBudget_AverageWithinIssueLimit(t *testing.T) {
	t.Parallel()
	ops := Catalog()
	require.Len(t, ops, 29)
	total, maxBytes, maxName := 0, 0, ""
	for _, op := range ops {
		n := modelVisibleBytes(op)
		total += n
		if n > maxBytes {
			maxBytes, maxName = n, op.Name
		}
	}
	avg := float64(total) / float64(len(ops)) / 4
	t.Logf("model-visible tools/list: %d bytes for %d tools, average %.1f tokens/tool (bytes/4), max %.1f (%s), budget %d",
		total, len(ops), avg, float64(maxBytes)/4, maxName, budgetTokensPerTool)
	assert.LessOrEqual(t, avg, float64(budgetTokensPerTool), "average model-visible tokens per tool over budget")
}
