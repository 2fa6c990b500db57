package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	return rec.Body.String()
}

func TestRegistry_TextOutput(t *testing.T) {
	t.Parallel()
	up := true
	r := New(Options{Tools: []string{"list-api-keys", "create-api-key"}, Version: "v1.2.3", Revision: "abc123", CoordinationUp: func() bool { return up }})

	r.ToolCall("list-api-keys", OutcomeOK)
	r.ToolCall("list-api-keys", OutcomeOK)
	r.ToolCall("create-api-key", OutcomeRefused)
	r.Upstream("list-api-keys", 200, 40*time.Millisecond)
	r.Upstream("create-api-key", 503, 2*time.Second)
	r.Upstream("create-api-key", 0, time.Second)
	r.Retry("create-api-key", RetryServerError)
	r.RateLimited(ScopeCredential)
	r.SessionOpened()
	r.SessionOpened()
	r.SessionClosed()
	done := r.CallStarted()
	r.CallStarted()
	done()
	up = false

	out := scrape(t, r.Handler())
	for _, want := range []string{
		`exoscale_keys_mcp_tool_calls_total{outcome="ok",tool="list-api-keys"} 2`,
		`exoscale_keys_mcp_tool_calls_total{outcome="refused",tool="create-api-key"} 1`,
		`exoscale_keys_mcp_upstream_request_duration_seconds_bucket{operation="list-api-keys",status_class="2xx",le="0.05"} 1`,
		`exoscale_keys_mcp_upstream_request_duration_seconds_count{operation="create-api-key",status_class="5xx"} 1`,
		`exoscale_keys_mcp_upstream_request_duration_seconds_count{operation="create-api-key",status_class="error"} 1`,
		`exoscale_keys_mcp_upstream_retries_total{operation="create-api-key",reason="server_error"} 1`,
		`exoscale_keys_mcp_rate_limited_total{scope="credential"} 1`,
		`exoscale_keys_mcp_rate_limited_total{scope="overall"} 0`,
		`exoscale_keys_mcp_sessions_live 1`,
		`exoscale_keys_mcp_tool_calls_in_flight 1`,
		`exoscale_keys_mcp_coordination_up 0`,
		`exoscale_keys_mcp_build_info{goversion="go`,
		`revision="abc123",version="v1.2.3"} 1`,
		`# HELP exoscale_keys_mcp_tool_calls_total Tool calls by tool and outcome.`,
		`# TYPE exoscale_keys_mcp_upstream_request_duration_seconds histogram`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		assert.Contains(t, out, want)
	}
}

// TestRegistry_UnknownLabelValuesBecomeOther feeds the kind of values a caller controls (a key
// id, a secret, a session id, an argument) where a label goes: none reaches the output.
func TestRegistry_UnknownLabelValuesBecomeOther(t *testing.T) {
	t.Parallel()
	r := New(Options{Tools: []string{"get-api-key"}})
	hostile := []string{
		"EXO1234567890abcdef12345678",                  // a key id
		"s3cr3t-API-SECRET-value-0123456789",           // a secret
		"2b1b2b0e-6a0f-4f57-9f56-0f1a8a1e7d11",         // a session id
		`name="x"} 1` + "\n" + `injected_metric 1 # {`, // an argument trying to break the format
	}
	for _, v := range hostile {
		r.ToolCall(v, Outcome(v))
		r.Upstream(v, 200, time.Millisecond)
		r.Retry(v, v)
		r.RateLimited(v)
	}
	r.Upstream("get-api-key", 302, time.Millisecond) // a class outside 2xx/4xx/5xx/error

	out := scrape(t, r.Handler())
	for _, v := range hostile {
		assert.NotContains(t, out, v)
	}
	assert.NotContains(t, out, "EXO")
	assert.NotContains(t, out, "injected_metric")
	for _, want := range []string{
		`exoscale_keys_mcp_tool_calls_total{outcome="other",tool="other"} 4`,
		`exoscale_keys_mcp_upstream_request_duration_seconds_count{operation="other",status_class="2xx"} 4`,
		`exoscale_keys_mcp_upstream_request_duration_seconds_count{operation="get-api-key",status_class="other"} 1`,
		`exoscale_keys_mcp_upstream_retries_total{operation="other",reason="other"} 4`,
		`exoscale_keys_mcp_rate_limited_total{scope="other"} 4`,
	} {
		assert.Contains(t, out, want)
	}
}

func TestRegistry_NilRecordsNothing(t *testing.T) {
	t.Parallel()
	var r *Registry
	assert.NotPanics(t, func() {
		r.ToolCall("x", OutcomeOK)
		r.Upstream("x", 200, time.Second)
		r.Retry("x", RetryNetwork)
		r.RateLimited(ScopeOverall)
		r.SessionOpened()
		r.SessionClosed()
		r.CallStarted()()
	})
}

func TestRegistry_ServerServesMetricsOnly(t *testing.T) {
	t.Parallel()
	r := New(Options{})
	srv := httptest.NewServer(r.Server("127.0.0.1:0").Handler)
	defer srv.Close()
	for path, want := range map[string]int{"/metrics": 200, "/": 404, "/healthz": 404, "/mcp": 404} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
		if want == 200 {
			assert.True(t, strings.Contains(string(body), "exoscale_keys_mcp_build_info"))
		}
	}
}

func TestStatusClass(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]string{0: "error", 200: "2xx", 204: "2xx", 301: "other", 404: "4xx", 429: "4xx", 500: "5xx", 503: "5xx", 700: "other", -1: "other"} {
		assert.Equal(t, want, StatusClass(status), status)
	}
}

func TestListenAddress(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, err string }{
		{"", "", ""},
		{":9090", "127.0.0.1:9090", ""},
		{"127.0.0.1:9090", "127.0.0.1:9090", ""},
		{"0.0.0.0:9090", "0.0.0.0:9090", ""},
		{"[::1]:9090", "[::1]:9090", ""},
		{"9090", "", "--metrics-listen: expected host:port or :port"},
	}
	for _, tt := range tests {
		got, err := ListenAddress(tt.in)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}
