package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSpanOfGivesMedianMinAndMax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []float64
		want span
	}{
		{"empty is zero", nil, span{}},
		{"one run", []float64{3}, span{Median: 3, Min: 3, Max: 3}},
		{"odd count, unsorted", []float64{5, 1, 3}, span{Median: 3, Min: 1, Max: 5}},
		{"even count averages the middle two", []float64{4, 1, 2, 10}, span{Median: 3, Min: 1, Max: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := append([]float64(nil), tt.in...)
			assert.Equal(t, tt.want, spanOf(tt.in))
			assert.Equal(t, in, tt.in, "the input is not reordered")
		})
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.50, 50}, {0.99, 99}, {1, 100}, {0, 1}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, percentile(d, tt.q), "q=%v", tt.q)
	}
	assert.Zero(t, percentile(nil, 0.5))
}

func TestQuickCheckTellsErrorsFromResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"result", `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"{}"}]}}`, ""},
		{"escaped isError inside text is not an error", `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"{\"isError\":true}"}]}}`, ""},
		{"tool error", `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"no"}],"isError":true}}`, "tool error"},
		{"JSON-RPC error", `{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad"}}`, "JSON-RPC error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := quickCheck([]byte(tt.body))
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, checkReply([]byte(tt.body)), "the full decode agrees")
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.Error(t, checkReply([]byte(tt.body)), "the full decode agrees")
		})
	}
}

func TestLastSSEDataIsTheResponse(t *testing.T) {
	t.Parallel()
	stream := "event: message\r\ndata: {\"method\":\"notifications/progress\"}\r\n\r\nevent: message\ndata: {\"id\":1,\"result\":{}}\n\n"
	assert.Equal(t, `{"id":1,"result":{}}`, string(lastSSEData([]byte(stream))))
	assert.Nil(t, lastSSEData([]byte("event: ping\n\n")))
}

func TestOtherCoresSubtractsOurOwnCPU(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	a := cpuSnap{at: t0, busy: 10 * time.Second, ours: 4 * time.Second}
	b := cpuSnap{at: t0.Add(2 * time.Second), busy: 13 * time.Second, ours: 6 * time.Second}
	assert.InDelta(t, 0.5, otherCores(a, b), 1e-9, "3 s busy, 2 s ours, over 2 s")
	assert.Zero(t, otherCores(b, b))
}
