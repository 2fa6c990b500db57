package jsonguard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMiddleware(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, body string
		status             int
		handled            bool
		answer             string // part of the response body
	}{
		{name: "good call", method: "POST", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"dry-run":true}}}`, status: 200, handled: true},
		{name: "GET stream", method: "GET", status: 200, handled: true},
		{name: "duplicate dry-run", method: "POST", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"dry-run":true,"dry-run":false}}}`,
			status: 400, answer: `"id":1,"error":{"code":-32600,"message":"params.arguments.dry-run: `},
		{name: "unsafe integer", method: "POST", body: `{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"arguments":{"n":18014398509481984}}}`,
			status: 400, answer: `"id":"x"`},
		{name: "notification still gets an HTTP answer", method: "POST", body: `{"jsonrpc":"2.0","method":"n","params":{"a":1,"a":2}}`,
			status: 400, answer: `"id":null`},
		{name: "too large", method: "POST", body: `{"a":"` + strings.Repeat("x", MaxMessageBytes) + `"}`, status: 413, answer: `"code":-32700`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			handled := false
			h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				handled = true
				b, _ := io.ReadAll(r.Body)
				assert.Equal(t, tt.body, string(b), "the next handler reads the same body")
			}))
			var body io.Reader = http.NoBody
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, "/mcp", body))
			assert.Equal(t, tt.status, rec.Code)
			assert.Equal(t, tt.handled, handled)
			if tt.answer != "" {
				assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				assert.Contains(t, rec.Body.String(), tt.answer)
			}
		})
	}
}

// Behind a body limit, the limit's error is reported as a size refusal, not a parse error.
func TestMiddleware_BehindMaxBytesReader(t *testing.T) {
	t.Parallel()
	h := Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handled") }))
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 10)
		h.ServeHTTP(w, r)
	})
	rec := httptest.NewRecorder()
	limited.ServeHTTP(rec, httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1}`)))
	require.Equal(t, 413, rec.Code)
	assert.Contains(t, rec.Body.String(), "longer than 10 bytes")
}
