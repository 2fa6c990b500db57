package jsonguard

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		pass       bool
		answer     string // part of the response body
	}{
		{name: "good call", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"dry-run":true}}}`, pass: true},
		{name: "duplicate dry-run", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"dry-run":true,"dry-run":false}}}`,
			answer: `"id":1,"error":{"code":-32600,"message":"params.arguments.dry-run: `},
		{name: "unsafe integer", body: `{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"arguments":{"n":18014398509481984}}}`,
			answer: `"id":"x"`},
		{name: "notification still gets an HTTP answer", body: `{"jsonrpc":"2.0","method":"n","params":{"a":1,"a":2}}`,
			answer: `"id":null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			assert.Equal(t, tt.pass, CheckHTTP(rec, []byte(tt.body)))
			if tt.pass {
				assert.Zero(t, rec.Body.Len(), "nothing written for a message that passes")
				return
			}
			assert.Equal(t, 400, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Contains(t, rec.Body.String(), tt.answer)
		})
	}
}
