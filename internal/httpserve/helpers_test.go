package httpserve

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/require"
)

// sessionProtocol is the newest protocol version with sessions (Mcp-Session-Id, DELETE).
const sessionProtocol = "2025-11-25"

func initializeBody() string {
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + sessionProtocol +
		`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
}

const pingBody = `{"jsonrpc":"2.0","id":2,"method":"ping"}`

// defaults are the flags as the command line leaves them, listening on 127.0.0.1:0.
func defaults(t *testing.T, args ...string) Flags {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	f.Register(fs)
	require.NoError(t, fs.Parse(args))
	f.Listen = "127.0.0.1:0"
	return f
}

// endpoint is the whole /mcp stack (the checks and mcp-go) around an MCP server with no tools,
// as Run serves it, with its Server.
func endpoint(t *testing.T, token string, args ...string) (http.Handler, *Server) {
	t.Helper()
	s, err := New(defaults(t, args...), token)
	require.NoError(t, err)
	hs, shutdown := s.newHTTPServer(discardLog(), server.NewMCPServer("test", "1", s.ServerOptions()...))
	t.Cleanup(func() { shutdown(context.Background()) })
	return hs.Handler, s
}

// req builds a request to /mcp from 127.0.0.1; hdr holds name, value pairs.
func req(method, body string, hdr ...string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, "/mcp", nil)
	} else {
		r = httptest.NewRequest(method, "/mcp", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.RemoteAddr = "127.0.0.1:40000"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// ok is the handler behind a middleware under test: it answers 200 and counts its calls.
type ok struct{ calls int }

func (o *ok) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls++
	io.Copy(io.Discard, r.Body)
	w.WriteHeader(http.StatusOK)
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
