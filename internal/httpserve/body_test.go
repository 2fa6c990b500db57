package httpserve

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBodyLimit_413FromUs: a body over the limit is a 413 with a JSON error, with or without a
// Content-Length, not a JSON-RPC parse error; bodies up to the limit pass whole.
func TestBodyLimit_413FromUs(t *testing.T) {
	t.Parallel()
	const limit = 4096
	var got []byte
	h := bodyLimit(limit, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		assert.Equal(t, int64(len(got)), r.ContentLength)
	}))
	over := strings.Repeat("x", limit+1)
	for name, r := range map[string]*http.Request{
		"with Content-Length": req(http.MethodPost, over),
		"chunked":             httptest.NewRequest(http.MethodPost, "/mcp", struct{ io.Reader }{strings.NewReader(over)}),
		"lying Content-Length": func() *http.Request {
			r := req(http.MethodPost, over)
			r.ContentLength = 10
			return r
		}(),
	} {
		got = nil
		w := serve(h, r)
		require.Equal(t, http.StatusRequestEntityTooLarge, w.Code, name)
		var e map[string]string
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), name)
		assert.Contains(t, e["error"], "request body over 4096 bytes")
		assert.Nil(t, got, "%s: nothing was handed on", name)
	}
	exact := strings.Repeat("y", limit)
	w := serve(h, req(http.MethodPost, exact))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, exact, string(got))
}

// TestReadDeadline_SlowBodyGets408: a body that stops arriving is answered 408 once the read
// deadline passes, instead of holding the connection; a body that arrives in time is served,
// and the deadline does not outlive it.
func TestReadDeadline_SlowBodyGets408(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	h := readDeadline(100*time.Millisecond, bodyLimit(1<<20, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("slow-handler") {
			<-release // longer than the read deadline: the request must not be cut
			if r.Context().Err() != nil {
				http.Error(w, "cancelled", http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	})))
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = conn.Write([]byte("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "no answer: the server still waits for the body")
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.True(t, resp.Close)

	go func() { time.Sleep(300 * time.Millisecond); close(release) }()
	r2, err := http.Post(ts.URL+"/mcp?slow-handler", "application/json", strings.NewReader(pingBody))
	require.NoError(t, err)
	r2.Body.Close()
	assert.Equal(t, http.StatusOK, r2.StatusCode, "a call that outlives the read deadline is not cut by it")
}

// A message that parsers read differently (a repeated key, an integer past 2^53) is refused
// before mcp-go decodes it: "dry-run":true,"dry-run":false must never be sent for real.
func TestJSONGuard_AmbiguousMessagesRefusedBeforeMCPGo(t *testing.T) {
	t.Parallel()
	h, _ := endpoint(t, "")
	for name, body := range map[string]string{
		"duplicate key": `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete-api-key","arguments":{"id":"EXO1","dry-run":true,"dry-run":false}}}`,
		"big integer":   `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"x","arguments":{"ttl":9007199254740993}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req(http.MethodPost, body))
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), `"error"`)
		})
	}
}

// TestEndpoint_BodyLimitBeforeJSONCheck: through the whole stack, a body over --max-body is a
// 413 before anything parses it, even when it is also malformed JSON-RPC: the JSON check reads
// the body bodyLimit already holds, instead of reading it (up to 4 MiB) first.
func TestEndpoint_BodyLimitBeforeJSONCheck(t *testing.T) {
	t.Parallel()
	h, _ := endpoint(t, "", "--max-body", "100")
	dup := `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping","params":{"pad":"` + strings.Repeat("x", 200) + `"}}`
	w := serve(h, req(http.MethodPost, dup))
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code, w.Body.String())

	// Within the limit, the JSON check still refuses the duplicate key with a JSON-RPC error.
	w = serve(h, req(http.MethodPost, `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`))
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), `"jsonrpc":"2.0"`)
}
