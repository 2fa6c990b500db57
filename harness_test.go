package main

// Test harness: the server under test, driven by an independent MCP client (the official Go
// SDK), against a sandbox the test owns, so tests can count what reached "Exoscale".

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
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

// environ is the environment the server under test sees.
func (e *testEnv) environ(extra map[string]string) map[string]string {
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
	return env
}

func (e *testEnv) getenv(extra map[string]string) func(string) string {
	env := e.environ(extra)
	return func(k string) string { return env[k] }
}

// srv is a running server under test and a connected client session.
type srv struct {
	session *sdk.ClientSession
	stderr  *syncBuffer
	url     string // HTTP transport only
}

// binPath is the server binary built once for the package's tests (TestMain).
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exoscale-keys-mcp-test-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "exoscale-keys-mcp")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building the server: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startStdio spawns the built server binary, as an MCP client does, and connects the SDK
// client to it. (A process, not run() on pipes: mcp-go keeps one stdio session per process,
// so two in-process stdio servers would share it.)
func (e *testEnv) startStdio(t *testing.T, env map[string]string, copts *sdk.ClientOptions, args ...string) *srv {
	t.Helper()
	cmd, stderr := e.stdioCommand(env, args...)
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, copts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, protocolOpts(copts))
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() { cs.Close() })
	return &srv{session: cs, stderr: stderr}
}

// stdioCommand is the server binary's stdio command against this environment.
func (e *testEnv) stdioCommand(env map[string]string, args ...string) (*exec.Cmd, *syncBuffer) {
	cmd := exec.Command(binPath, append([]string{"stdio", "--poll-interval", "5ms"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range e.environ(env) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	return cmd, stderr
}

// rawStdio is the server binary on pipes, for tests that speak JSON-RPC lines themselves.
type rawStdio struct {
	in     io.WriteCloser
	lines  <-chan string // every line the server writes, in order; closed at its end
	stderr *syncBuffer
	exited chan struct{} // closed once the output is drained and the process reaped
	cmd    *exec.Cmd
	once   sync.Once
}

// startRawStdio starts the server binary and reads its output. Cleanup ends its input and
// waits for it to stop.
func (e *testEnv) startRawStdio(t *testing.T, args ...string) *rawStdio {
	t.Helper()
	cmd, stderr := e.stdioCommand(nil, args...)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1024)
	r := &rawStdio{in: in, lines: lines, stderr: stderr, exited: make(chan struct{}), cmd: cmd}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = cmd.Wait() // after the last read, as os/exec requires
		close(r.exited)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// send writes one JSON-RPC message as a line.
func (r *rawStdio) send(t *testing.T, msg string) {
	t.Helper()
	_, err := io.WriteString(r.in, msg+"\n")
	require.NoError(t, err)
}

// stop ends the server's input, as a client that goes away does, and waits for it to exit.
func (r *rawStdio) stop(t *testing.T) {
	r.once.Do(func() {
		r.in.Close()
		select {
		case <-r.exited:
		case <-time.After(30 * time.Second):
			r.cmd.Process.Kill()
			t.Errorf("the stdio server did not stop at the end of its input\nstderr:\n%s", r.stderr.String())
		}
	})
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

// startHTTPServer starts "http" on 127.0.0.1:0 and returns its /mcp URL, read from the address
// the server reports, once /healthz answers.
func (e *testEnv) startHTTPServer(t *testing.T, env map[string]string, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"http", "--listen", "127.0.0.1:0", "--poll-interval", "5ms"}, args...), nil, io.Discard, stderr, e.getenv(env))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("http server did not stop")
		}
	})
	addr := listeningAddr(t, done, stderr)
	waitHealthy(t, "http://"+addr, done, stderr)
	return "http://" + addr + "/mcp", stderr
}

// servingURL matches the line in which the http command reports the address it bound.
var servingURL = regexp.MustCompile(`serving streamable HTTP"? url=https?://([^/ ]+)/mcp`)

// listeningAddr waits for the server to report its bound address (host:port) on stderr.
func listeningAddr(t *testing.T, done chan int, stderr *syncBuffer) string {
	t.Helper()
	for range 2000 {
		if m := servingURL.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("server exited with %d:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("server never reported its address:\n%s", stderr.String())
	return ""
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
	out := structured(t, res)
	conformsToOutputSchema(t, name, res)
	return out
}

var outputSchemas sync.Map // tool name → *jsonschema.Resolved

// conformsToOutputSchema checks a result's structured content against the tool's output
// schema, and that the text carries the same JSON.
func conformsToOutputSchema(t *testing.T, name string, res *sdk.CallToolResult) {
	t.Helper()
	op, ok := schemas.Lookup(name)
	require.True(t, ok)
	v, ok := outputSchemas.Load(name)
	if !ok {
		var sch jsonschema.Schema
		require.NoError(t, json.Unmarshal(op.OutputSchema, &sch))
		resolved, err := sch.Resolve(nil)
		require.NoError(t, err)
		v, _ = outputSchemas.LoadOrStore(name, resolved)
	}
	b, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	var inst any
	require.NoError(t, json.Unmarshal(b, &inst))
	assert.NoError(t, v.(*jsonschema.Resolved).Validate(inst), "%s: structuredContent does not conform to the output schema", name)
	txt := text(res)
	assert.JSONEq(t, string(b), txt[strings.LastIndex(txt, "\n")+1:], "%s: the text carries the same JSON", name)
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
