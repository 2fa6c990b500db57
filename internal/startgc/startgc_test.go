package startgc

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Start-up runs at startPercent; Done gives the operator's setting back, once.
func TestDone_RestoresTheOperatorsPercent(t *testing.T) {
	require.Equal(t, startPercent, debug.SetGCPercent(startPercent), "start-up runs at %d %%", startPercent)
	Done()
	assert.Equal(t, operatorPercent, debug.SetGCPercent(operatorPercent), "after Done the operator's GOGC applies")
	debug.SetGCPercent(12345)
	Done() // a second Done changes nothing
	assert.Equal(t, 12345, debug.SetGCPercent(operatorPercent))
}
