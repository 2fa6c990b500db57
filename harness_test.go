package main

// Test harness: the server under test, driven by an independent MCP client (the official Go
// SDK), against a sandbox the test owns, so tests can count what reached "Exoscale".

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// syncBuffer is a goroutine-safe buffer for a server's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is a sandbox served on 127.0.0.1 and the environment that points a server at it.
type testEnv struct {
	sb       *sandbox.Sandbox
	endpoint string
	key      string
	secret   string
	state    string // XDG_STATE_HOME: secret files land under it
}

func newTestEnv(t *testing.T, opts ...sandbox.Option) *testEnv {
	t.Helper()
	sb := sandbox.New(opts...)
	base, stop, err := sb.Start()
	require.NoError(t, err)
	t.Cleanup(stop)
	key, secret := sb.ServerCredentials()
	return &testEnv{sb: sb, endpoint: base, key: key, secret: secret, state: t.TempDir()}
}

// getenv is the environment the server under test sees.
func (e *testEnv) getenv(extra map[string]string) func(string) string {
	env := map[string]string{
		"EXOSCALE_API_ENDPOINT": e.endpoint,
		"EXOSCALE_API_KEY":      e.key,
		"EXOSCALE_API_SECRET":   e.secret,
		"XDG_STATE_HOME":        e.state,
		"HOME":                  e.state,
		"EXOSCALE_CONFIG":       "/nonexistent/exoscale.toml",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// server is a running server under test and a connected client session.
type srv struct {
	session *sdk.ClientSession
	stderr  *syncBuffer
	url     string // HTTP transport only
}

// startStdio runs the stdio server in-process on pipes and connects the SDK client to it.
func (e *testEnv) startStdio(t *testing.T, env map[string]string, copts *sdk.ClientOptions, args ...string) *srv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"stdio", "--poll-interval", "5ms"}, args...), inR, outW, stderr, e.getenv(env))
		outW.Close()
	}()
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, copts)
	cs, err := client.Connect(ctx, &sdk.IOTransport{Reader: outR, Writer: inW}, protocolOpts(copts))
	if err != nil {
		cancel()
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		cs.Close()
		inW.Close()
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("stdio server did not stop")
		}
	})
	return &srv{session: cs, stderr: stderr}
}

// startHTTP runs the streamable HTTP server in-process on a free loopback port.
func (e *testEnv) startHTTP(t *testing.T, env map[string]string, copts *sdk.ClientOptions, hc *http.Client, args ...string) *srv {
	t.Helper()
	url, stderr := e.startHTTPServer(t, env, args...)
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, copts)
	cs, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, protocolOpts(copts))
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() { cs.Close() })
	return &srv{session: cs, stderr: stderr, url: url}
}

// startHTTPServer starts "http" on a free port and returns its /mcp URL once /healthz answers.
func (e *testEnv) startHTTPServer(t *testing.T, env map[string]string, args ...string) (string, *syncBuffer) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"http", "--listen", addr, "--poll-interval", "5ms"}, args...), nil, io.Discard, stderr, e.getenv(env))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("http server did not stop")
		}
	})
	waitHealthy(t, "http://"+addr, done, stderr)
	return "http://" + addr + "/mcp", stderr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func waitHealthy(t *testing.T, base string, done <-chan int, stderr *syncBuffer) {
	t.Helper()
	for range 200 {
		select {
		case code := <-done:
			t.Fatalf("server exited with %d:\n%s", code, stderr.String())
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("server at %s never became healthy:\n%s", base, stderr.String())
}

// protocolOpts: clients that elicit speak 2025-11-25, where servers ask through
// elicitation/create; the others speak the SDK's latest version.
func protocolOpts(copts *sdk.ClientOptions) *sdk.ClientSessionOptions {
	if copts != nil && copts.ElicitationHandler != nil {
		return &sdk.ClientSessionOptions{ProtocolVersion: "2025-11-25"}
	}
	return nil
}

// call calls a tool and returns the result, failing the test on a protocol error.
func (s *srv) call(t *testing.T, name string, args map[string]any) *sdk.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.session.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err, "tools/call %s", name)
	return res
}

// ok calls a tool that must succeed and returns its structured content.
func (s *srv) ok(t *testing.T, name string, args map[string]any) map[string]any {
	t.Helper()
	res := s.call(t, name, args)
	require.False(t, res.IsError, "%s failed: %s", name, text(res))
	return structured(t, res)
}

// fails calls a tool that must fail and returns its text.
func (s *srv) fails(t *testing.T, name string, args map[string]any) string {
	t.Helper()
	res := s.call(t, name, args)
	require.True(t, res.IsError, "%s should have failed, got: %s", name, text(res))
	return text(res)
}

func text(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func structured(t *testing.T, res *sdk.CallToolResult) map[string]any {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "structured content: %s", b)
	return m
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}
