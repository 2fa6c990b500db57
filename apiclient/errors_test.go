package apiclient

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseError_HandlesAllFiveBodyShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
		line   string
	}{
		{
			name:   "1 RFC 9457 problem with object field errors",
			status: 400,
			body: `{"type":"https://api.exoscale.com/problems/invalid-body","title":"Invalid Request Body","status":400,
				"errors":[{"path":"name","detail":"does not match pattern","pointer":"/name","location":"body"},{"pointer":"/scope","detail":"is required"}]}`,
			want: Error{Type: "https://api.exoscale.com/problems/invalid-body", Title: "Invalid Request Body",
				Fields: []FieldError{{Path: "name", Detail: "does not match pattern"}, {Path: "/scope", Detail: "is required"}}},
			line: "create-ai-api-key: 400 Invalid Request Body: name: does not match pattern; /scope: is required",
		},
		{
			name:   "1 RFC 9457 problem with string field errors and detail",
			status: 422,
			body:   `{"title":"Unprocessable","detail":"the request is invalid","errors":["name too long"]}`,
			want:   Error{Title: "Unprocessable", Detail: "the request is invalid", Fields: []FieldError{{Detail: "name too long"}}},
			line:   "create-ai-api-key: 422 Unprocessable: the request is invalid: name too long",
		},
		{
			name:   "2 message",
			status: 403,
			body:   `{"message":"Invalid request signature"}`,
			want:   Error{Message: "Invalid request signature"},
			line:   "create-ai-api-key: 403 Forbidden: Invalid request signature",
		},
		{
			name:   "3 error",
			status: 404,
			body:   `{"error":"ai api key not found"}`,
			want:   Error{Message: "ai api key not found"},
			line:   "create-ai-api-key: 404 Not Found: ai api key not found",
		},
		{
			name:   "4 code and error",
			status: 403,
			body:   `{"code":"forbidden_operation","error":"operation not allowed for this key"}`,
			want:   Error{Code: "forbidden_operation", Message: "operation not allowed for this key"},
			line:   "create-ai-api-key: 403 Forbidden: operation not allowed for this key (forbidden_operation)",
		},
		{
			name:   "5 plain text",
			status: 502,
			body:   "upstream connect error\n",
			want:   Error{Message: "upstream connect error"},
			line:   "create-ai-api-key: 502 Bad Gateway: upstream connect error",
		},
		{
			name:   "5 HTML page reduced to its title",
			status: 504,
			body:   "<html><head><title>504 Gateway Time-out</title></head><body><h1>nginx</h1></body></html>",
			want:   Error{Message: "504 Gateway Time-out"},
			line:   "create-ai-api-key: 504 Gateway Timeout: 504 Gateway Time-out",
		},
		{
			name:   "empty body",
			status: 404,
			want:   Error{},
			line:   "create-ai-api-key: 404 Not Found",
		},
		{
			name:   "unknown JSON object kept compact",
			status: 500,
			body:   `{ "oops": [1, 2] }`,
			want:   Error{Message: `{"oops":[1,2]}`},
			line:   `create-ai-api-key: 500 Internal Server Error: {"oops":[1,2]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ParseError("create-ai-api-key", tt.status, http.Header{}, []byte(tt.body))
			want := tt.want
			want.Operation, want.Status = "create-ai-api-key", tt.status
			assert.Equal(t, &want, got)
			assert.Equal(t, tt.line, got.Error())
		})
	}
}

func TestParseError_ReadsRetryAfterFromHeaderOrBody(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name   string
		header string
		body   string
		min    time.Duration
		max    time.Duration
	}{
		{name: "header seconds", header: "7", body: `{"message":"slow down"}`, min: 7 * time.Second, max: 7 * time.Second},
		{name: "header HTTP date", header: now.Add(20 * time.Second).UTC().Format(http.TimeFormat), min: 15 * time.Second, max: 21 * time.Second},
		{name: "body retry_after number", body: `{"message":"rate limited","retry_after":2}`, min: 2 * time.Second, max: 2 * time.Second},
		{name: "body retry_after string", body: `{"error":"rate limited","retry_after":"3"}`, min: 3 * time.Second, max: 3 * time.Second},
		{name: "header wins over body", header: "1", body: `{"retry_after":9}`, min: time.Second, max: time.Second},
		{name: "garbage ignored", header: "soon", body: `{"retry_after":"later"}`, min: 0, max: 0},
		{name: "negative ignored", header: "-5", min: 0, max: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			e := ParseError("list-api-keys", 429, h, []byte(tt.body))
			assert.GreaterOrEqual(t, e.RetryAfter, tt.min)
			assert.LessOrEqual(t, e.RetryAfter, tt.max)
			if tt.min > 0 {
				assert.Contains(t, e.Error(), "(retry after ")
			}
		})
	}
}

func TestError_IsOneShortLineWhateverTheBody(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 10000)
	bodies := []string{
		"line one\nline two\r\nline three\u2028four",
		`{"title":"Bad\nRequest","detail":"a\tb\u0000c","errors":[{"path":"na\nme","detail":"d\re"}]}`,
		`{"message":"` + long + `"}`,
		long,
		`{"errors":[` + strings.Repeat(`{"path":"p","detail":"d"},`, 50) + `{"path":"last","detail":"d"}]}`,
	}
	for i, body := range bodies {
		msg := ParseError("op", 400, nil, []byte(body)).Error()
		assert.NotContainsf(t, msg, "\n", "body %d", i)
		assert.NotContainsf(t, msg, "\r", "body %d", i)
		assert.NotContainsf(t, msg, "\x00", "body %d", i)
		assert.LessOrEqualf(t, len(msg), 4096, "body %d", i)
	}
	many := ParseError("op", 400, nil, []byte(bodies[4])).Error()
	assert.Contains(t, many, "and 41 more")
}

func TestParseError_FieldErrorsAsObjectMapSorted(t *testing.T) {
	t.Parallel()
	e := ParseError("update-iam-role", 400, nil, []byte(`{"title":"Bad","errors":{"zeta":["too long"],"alpha":"required"}}`))
	require.Len(t, e.Fields, 2)
	assert.Equal(t, FieldError{Path: "alpha", Detail: "required"}, e.Fields[0])
	assert.Equal(t, "update-iam-role: 400 Bad: alpha: required; zeta: too long", e.Error())
}

func TestOperationError_SaysStateReasonAndMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op   *Operation
		want string
	}{
		{&Operation{ID: "op-1", State: StateFailure, Reason: "forbidden", Message: "Forbidden by role policy\nfor iam"}, "operation op-1 failed (forbidden): Forbidden by role policy for iam"},
		{&Operation{ID: "op-2", State: StateTimeout, Reason: "unavailable"}, "operation op-2 timed out (unavailable)"},
		{&Operation{ID: "op-3", State: StateFailure}, "operation op-3 failed"},
		{nil, "operation failed"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, (&OperationError{Operation: tt.op}).Error())
	}
}

// FuzzParseError: any body, any status gives an *Error whose message is one bounded line naming
// the operation and status.
func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(`{"title":"Invalid Request Body","errors":[{"path":"name","detail":"does not match pattern"}]}`))
	f.Add(403, []byte(`{"message":"Invalid request signature"}`))
	f.Add(429, []byte(`{"code":"rate_limited","error":{"message":"slow"},"retry_after":1e308}`))
	f.Add(502, []byte("<html><title>x</title>"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		h := http.Header{}
		h.Set("Retry-After", string(body))
		e := ParseError("get-api-key", status, h, body)
		require.NotNil(t, e)
		msg := e.Error()
		require.True(t, strings.HasPrefix(msg, "get-api-key: "), msg)
		require.NotContains(t, msg, "\n")
		require.NotContains(t, msg, "\r")
		require.LessOrEqual(t, len(msg), 8192)
		require.GreaterOrEqual(t, e.RetryAfter, time.Duration(0))
		require.LessOrEqual(t, e.RetryAfter, 24*time.Hour)
	})
}
