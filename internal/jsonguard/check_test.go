package jsonguard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	call := func(args string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete-api-key","arguments":` + args + `}}`
	}
	tests := []struct {
		name, msg string
		path      string // "" = accepted
		code      int
		reason    string
	}{
		{name: "plain call", msg: call(`{"id":"EXO1","dry-run":true}`)},
		{name: "same key in sibling objects", msg: `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}`},
		{name: "safe integers", msg: `{"a":9007199254740991,"b":-9007199254740991,"c":1.5,"d":1e15,"e":0,"f":-0}`},
		{name: "non-ASCII keys that differ", msg: `{"é":1,"è":2}`},

		{name: "duplicate dry-run", msg: call(`{"id":"EXO1","dry-run":true,"dry-run":false}`), path: "params.arguments.dry-run", code: CodeInvalidRequest, reason: "given twice"},
		{name: "duplicate by escape", msg: call(`{"dry-run":true,"dry\u002drun":false}`), path: "params.arguments.dry-run", code: CodeInvalidRequest, reason: "given twice"},
		{name: "duplicate by case", msg: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get-api-key","Name":"delete-api-key"}}`, path: "params.Name", code: CodeInvalidRequest, reason: `"name" and "Name" differ only by letter case`},
		{name: "duplicate by Kelvin sign", msg: `{"k":1,"\u212a":2}`, path: "[\"\u212a\"]", code: CodeInvalidRequest, reason: "letter case"},
		{name: "duplicate top-level method", msg: `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}`, path: "method", code: CodeInvalidRequest},
		{name: "duplicate inside an array", msg: `{"a":[1,{"b":1,"b":2}]}`, path: "a[1].b", code: CodeInvalidRequest},
		{name: "duplicate odd key", msg: `{"a.b":1,"a.b":2}`, path: `["a.b"]`, code: CodeInvalidRequest},

		{name: "2^53+1", msg: call(`{"n":9007199254740993}`), path: "params.arguments.n", code: CodeInvalidRequest, reason: "beyond ±9007199254740991"},
		{name: "2^53", msg: `{"n":9007199254740992}`, path: "n", code: CodeInvalidRequest},
		{name: "negative", msg: `{"n":-9007199254740993}`, path: "n", code: CodeInvalidRequest},
		{name: "long integer", msg: `{"n":123456789012345678901234567890}`, path: "n", code: CodeInvalidRequest},
		{name: "exponent", msg: `{"n":1e16}`, path: "n", code: CodeInvalidRequest},
		{name: "beyond float64", msg: `{"n":1e400}`, path: "n", code: CodeInvalidRequest},
		{name: "unsafe id", msg: `{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}`, path: "id", code: CodeInvalidRequest},
		{name: "in an array", msg: `[1,2,99999999999999999]`, path: "[2]", code: CodeInvalidRequest},

		{name: "not JSON", msg: `{"a":`, code: CodeParseError, reason: "parse error"},
		{name: "two values", msg: `{} {}`, code: CodeParseError, reason: "more than one JSON value"},
		{name: "too deep", msg: strings.Repeat("[", 300) + strings.Repeat("]", 300), code: CodeInvalidRequest, reason: "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Check([]byte(tt.msg))
			if tt.code == 0 {
				assert.NoError(t, err)
				return
			}
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.code, e.Code)
			if tt.path != "" {
				assert.Equal(t, tt.path, e.Path)
				assert.True(t, strings.HasPrefix(e.Error(), tt.path+": "), e.Error())
			}
			assert.Contains(t, e.Error(), tt.reason)
		})
	}
}

func TestCheck_ErrorsAreBounded(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", 10_000)
	err := Check([]byte(`{"` + key + `":1,"` + key + `":2}`))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 500)
	err = Check([]byte(`{"n":` + strings.Repeat("9", 10_000) + `}`))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 500)
}

func TestAnswer(t *testing.T) {
	t.Parallel()
	refusal := &Error{Code: CodeInvalidRequest, Path: "params.arguments.dry-run", Reason: "the key \"dry-run\" is given twice"}
	tests := []struct {
		name, msg, want string
	}{
		{"request with a number id", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}`,
			`{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"params.arguments.dry-run: the key \"dry-run\" is given twice"}}`},
		{"request with a string id", `{"jsonrpc":"2.0","id":"a-1","method":"tools/call"}`,
			`{"jsonrpc":"2.0","id":"a-1","error":{"code":-32600,"message":"params.arguments.dry-run: the key \"dry-run\" is given twice"}}`},
		{"unsafe id is not echoed", `{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"params.arguments.dry-run: the key \"dry-run\" is given twice"}}`},
		{"unreadable", `{"jsonrpc":`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"params.arguments.dry-run: the key \"dry-run\" is given twice"}}`},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}`, ""},
		{"response", `{"jsonrpc":"2.0","id":3,"result":{}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Answer([]byte(tt.msg), refusal)
			if tt.want == "" {
				assert.Nil(t, got)
				return
			}
			assert.JSONEq(t, tt.want, string(got))
		})
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"dry-run":true,"dry-run":false}}}`))
	f.Add([]byte(`[1,2.5e300,{"a":[{}]}]`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		err := Check(msg)
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			_ = Answer(msg, err)
		}
	})
}

// BenchmarkCheck_ToolCall measures what the guard adds to each stdio or HTTP message.
func BenchmarkCheck_ToolCall(b *testing.B) {
	msg := []byte(`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"update-iam-role-policy","arguments":{"id":"11111111-1111-1111-1111-111111111111","default-service-strategy":"deny","services":{"compute":{"type":"rules","rules":[{"action":"allow","expression":"operation in ['list-zones','list-instances']"}]}},"dry-run":true},"_meta":{"progressToken":3}}}`)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := Check(msg); err != nil {
			b.Fatal(err)
		}
	}
}
