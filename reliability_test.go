package main

// Reliability: the fault matrix (every kind of upstream misbehaviour against a read, a create,
// an update and an awaited delete) and cancellation (a client that cancels or disconnects
// mid-wait). The server under test runs in-process against a sandbox the test owns, so the
// test counts what reached "Exoscale" and sees what changed there.
//
// Goroutines: these tests are not parallel with the rest of the package (Go runs sequential
// top-level tests while parallel ones are paused), so goleak can compare against the
// goroutines alive when each test started.

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// faultCallDeadline bounds one faulted call. The slowest legitimate path is a GET retried three
// times (backoff of at most 1+2+4 s with the default 1 s base) whose attempts each time out at
// --timeout: well under this. It is an upper bound for "ends within its deadline", not a timing.
const faultCallDeadline = 45 * time.Second

// oversizedBody is larger than apiclient's 10 MiB cap on a 2xx body (DefaultMaxBodyBytes).
var oversizedBody = func() []byte {
	b := make([]byte, 0, 11<<20)
	b = append(b, `{"padding":"`...)
	b = append(b, strings.Repeat("x", 11<<20-20)...)
	return append(b, `"}`...)
}()

// faultKind is one column of the matrix: how the upstream misbehaves, and the words the
// tool's error text must use to say so.
type faultKind struct {
	name  string
	fault sandbox.Fault // Method, Path and Count are filled in per target
	args  []string      // extra server flags
	want  []string      // every target's error text contains these (case-insensitive)
	// applies: the change reaches the sandbox's state despite the fault.
	applies bool
	// refused: Exoscale said it did not do it (429), so the text need not warn that the change
	// may have happened.
	refused bool
}

var faultKinds = []faultKind{
	{name: "500", fault: sandbox.Fault{Status: http.StatusInternalServerError}, want: []string{"500"}},
	{name: "502", fault: sandbox.Fault{Status: http.StatusBadGateway}, want: []string{"502"}},
	{name: "503-retry-after", fault: sandbox.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "1"}, want: []string{"503"}},
	{name: "429", fault: sandbox.Fault{Status: http.StatusTooManyRequests}, want: []string{"429", "rate limited", "wait"}, refused: true},
	// Slower than the server's --timeout: the sandbox holds the request (honouring its context)
	// far longer than the 300 ms the server waits for an answer.
	{name: "slower-than-timeout", fault: sandbox.Fault{Delay: time.Hour}, args: []string{"--timeout", "300ms"}, want: []string{"did not answer in time"}},
	{name: "dropped-connection", fault: sandbox.Fault{Drop: true}, want: []string{"EOF"}},
	{name: "invalid-json", fault: sandbox.Fault{InvalidJSON: true}, want: []string{"not a JSON object"}},
	{name: "oversized-body", fault: sandbox.Fault{Status: http.StatusOK, Body: oversizedBody}, want: []string{"exceeds"}},
	// An error answer far larger than the 64 KiB apiclient reads of one: the text stays short.
	{name: "oversized-error-body", fault: sandbox.Fault{Status: http.StatusInternalServerError, Body: oversizedBody}, want: []string{"500"}},
	// The change happens, then the answer is lost: the worst case for a create.
	{name: "after-apply", fault: sandbox.Fault{AfterApply: true, Drop: true}, want: []string{"EOF"}, applies: true},
}

// faultTarget is one row: a tool call and the upstream request the fault hits.
type faultTarget struct {
	tool string
	// request returns the call's arguments and the upstream request to fault.
	request func(e *testEnv) (args map[string]any, method, path string)
	// changed reports whether the call's change is visible in the sandbox (nil for a read).
	changed func(e *testEnv, st sandbox.State) bool
	// unsure: words every faulted call of this tool uses when the outcome is unknown (what to
	// do before calling again).
	unsure []string
}

// restrictedKey is the seeded IAM key on the restricted role: a key the server may delete.
func (e *testEnv) restrictedKey(t *testing.T) string {
	t.Helper()
	key, _, ok := e.sb.KeyCredentials(sandbox.RestrictedKeyName)
	require.True(t, ok, "the sandbox seeds %s", sandbox.RestrictedKeyName)
	return key
}

const (
	faultKeyName   = "fault-matrix-key"
	faultAIKeyName = "renamed-by-fault-matrix"
)

var faultTargets = []faultTarget{
	{
		tool: "get-api-key",
		request: func(e *testEnv) (map[string]any, string, string) {
			key, _, _ := e.sb.KeyCredentials(sandbox.RestrictedKeyName)
			return map[string]any{"id": key}, http.MethodGet, "/api-key/" + key
		},
		unsure: []string{"safe to retry"},
	},
	{
		tool: "create-api-key",
		request: func(e *testEnv) (map[string]any, string, string) {
			return map[string]any{"name": faultKeyName, "role-id": sandbox.RestrictedRoleID}, http.MethodPost, "/api-key"
		},
		changed: func(_ *testEnv, st sandbox.State) bool {
			return slices.ContainsFunc(st.APIKeys, func(k sandbox.APIKey) bool { return k.Name == faultKeyName })
		},
		unsure: []string{"may have been created", "list-api-keys"},
	},
	{
		tool: "update-ai-api-key",
		request: func(e *testEnv) (map[string]any, string, string) {
			return map[string]any{"id": sandbox.SeedAIKeyID, "name": faultAIKeyName}, http.MethodPatch, "/ai/api-key/" + sandbox.SeedAIKeyID
		},
		changed: func(_ *testEnv, st sandbox.State) bool {
			return slices.ContainsFunc(st.AIKeys, func(k sandbox.AIKey) bool { return k.ID == sandbox.SeedAIKeyID && k.Name == faultAIKeyName })
		},
		unsure: []string{"may have been applied"},
	},
	{
		tool: "delete-api-key",
		request: func(e *testEnv) (map[string]any, string, string) {
			key, _, _ := e.sb.KeyCredentials(sandbox.RestrictedKeyName)
			return map[string]any{"id": key}, http.MethodDelete, "/api-key/" + key
		},
		changed: func(_ *testEnv, st sandbox.State) bool {
			return !slices.ContainsFunc(st.APIKeys, func(k sandbox.APIKey) bool { return k.Name == sandbox.RestrictedKeyName })
		},
		unsure: []string{"may have been applied"},
	},
}

// TestFault_Matrix: for each target and each fault, the call ends (within its deadline) as an
// isError result that says what happened and what to do, the change happened only when the
// fault came after it, no create is sent twice, the server keeps serving, and no goroutine is
// left behind.
func TestFault_Matrix(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Run("matrix", func(t *testing.T) {
		for _, target := range faultTargets {
			for _, kind := range faultKinds {
				t.Run(target.tool+"/"+kind.name, func(t *testing.T) {
					t.Parallel()
					runFaultCase(t, target, kind)
				})
			}
		}
	})
	goleak.VerifyNone(t, ignore)
}

func runFaultCase(t *testing.T, target faultTarget, kind faultKind) {
	env := newTestEnv(t)
	s := env.startHTTP(t, nil, nil, nil, kind.args...)
	require.NotEmpty(t, env.restrictedKey(t))
	args, method, path := target.request(env)

	f := kind.fault
	f.Method, f.Path = method, path
	// Every attempt is faulted, retries included: the call must give up, not get lucky.
	f.Count = 1000
	env.sb.Inject(f)

	ctx, cancel := context.WithTimeout(context.Background(), faultCallDeadline)
	defer cancel()
	res, err := s.session.CallTool(ctx, &sdk.CallToolParams{Name: target.tool, Arguments: args})
	require.NoError(t, err, "the call must end within %s as a tool result, not a protocol error\nstderr:\n%s", faultCallDeadline, s.stderr.String())
	msg := text(res)
	t.Logf("%s under %s: %s", target.tool, kind.name, msg)
	require.True(t, res.IsError, "a faulted %s must be an isError result, got: %s", target.tool, msg)
	want := append([]string{target.tool}, kind.want...)
	if !kind.refused {
		want = append(want, target.unsure...)
	}
	for _, w := range want {
		assert.Contains(t, strings.ToLower(msg), strings.ToLower(w), "the error text says what happened and what to do")
	}
	// Every faulted request reached the sandbox: the text must not say otherwise.
	assert.NotContains(t, msg, "could not reach Exoscale", "the request reached Exoscale; saying it did not misleads")
	if env.sb.Requests(method, path) == 1 {
		assert.NotContains(t, msg, "after retries", "the text does not claim retries for a request sent once")
	}
	assert.NotContains(t, msg, env.secret, "no secret in the error text")
	assert.LessOrEqual(t, len(msg), 2000, "the error text is short: no body dumped into it")
	assert.GreaterOrEqual(t, env.sb.Requests(method, path), 1, "the faulted request reached the sandbox")

	env.sb.ClearFaults()
	if target.changed != nil {
		assert.Equal(t, kind.applies, target.changed(env, env.sb.State()),
			"the change happened only when the fault came after it")
	}
	if target.tool == "create-api-key" {
		assert.Equal(t, 1, env.sb.Requests(http.MethodPost, "/api-key"), "a create is sent exactly once, never retried")
		if kind.applies {
			// The model retries the create whose answer was lost: the duplicate guard finds
			// the key it made, and nothing is sent.
			again := s.fails(t, target.tool, args)
			assert.Contains(t, again, "already taken")
			assert.Equal(t, 1, env.sb.Requests(http.MethodPost, "/api-key"), "the retried create was not sent")
		}
	} else {
		assert.Zero(t, env.sb.Requests(http.MethodPost, "/api-key"), "nothing was created")
	}

	// The server keeps serving, on the same session.
	keys := s.ok(t, "list-api-keys", nil)
	assert.NotEmpty(t, keys["api-keys"])
}

// TestFault_AwaitedDeletePollingFails: the delete is accepted, then polling its operation keeps
// failing: the call gives up with an error that says the change was accepted and how to check
// on it, instead of polling forever or inviting a second delete.
func TestFault_AwaitedDeletePollingFails(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Run("cases", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			fault sandbox.Fault
		}{
			{"500", sandbox.Fault{Status: http.StatusInternalServerError}},
			{"invalid-json", sandbox.Fault{InvalidJSON: true}},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				env := newTestEnv(t, sandbox.WithPendingPolls(1000))
				s := env.startHTTP(t, nil, nil, nil)
				key := env.restrictedKey(t)
				f := c.fault
				f.Method, f.Path, f.Count = http.MethodGet, "/operation/*", 1000
				env.sb.Inject(f)

				ctx, cancel := context.WithTimeout(context.Background(), faultCallDeadline)
				defer cancel()
				res, err := s.session.CallTool(ctx, &sdk.CallToolParams{Name: "delete-api-key", Arguments: map[string]any{"id": key}})
				require.NoError(t, err)
				msg := text(res)
				t.Logf("delete-api-key with polls failing (%s): %s", c.name, msg)
				require.True(t, res.IsError, msg)
				for _, w := range []string{"accepted", "polling", "get-operation", "do not repeat"} {
					assert.Contains(t, strings.ToLower(msg), w)
				}
				assert.Equal(t, 1, env.sb.Requests(http.MethodDelete, "/api-key/"+key), "the delete was sent once")
				assert.Equal(t, 5, env.sb.Requests(http.MethodGet, "/operation/*"), "polling gave up after five consecutive errors")
				env.sb.ClearFaults()
				s.ok(t, "list-api-keys", nil)
			})
		}
	})
	goleak.VerifyNone(t, ignore)
}

// upstream serves the sandbox on 127.0.0.1 and records the requests whose client went away
// before the answer (the server cancelled its upstream request), so a test can see that
// cancellation reached the upstream connection.
type upstream struct {
	sb *sandbox.Sandbox
	mu sync.Mutex
	// inflight holds "METHOD /path" of the requests being served; abandoned those whose
	// client cancelled them before the answer.
	inflight  []string
	abandoned []string
	changed   chan struct{} // closed and replaced at every change
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/v2")
	u.update(func() { u.inflight = append(u.inflight, req) })
	u.sb.ServeHTTP(w, r)
	gone := r.Context().Err() != nil
	u.update(func() {
		u.inflight = slices.Delete(u.inflight, slices.Index(u.inflight, req), slices.Index(u.inflight, req)+1)
		if gone {
			u.abandoned = append(u.abandoned, req)
		}
	})
}

func (u *upstream) update(f func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f()
	close(u.changed)
	u.changed = make(chan struct{})
}

// waitUntil waits (at most 30 s) until cond holds on the recorded requests.
func (u *upstream) waitUntil(t *testing.T, what string, cond func(inflight, abandoned []string) bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		u.mu.Lock()
		ok, ch := cond(u.inflight, u.abandoned), u.changed
		u.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			u.mu.Lock()
			defer u.mu.Unlock()
			t.Fatalf("timed out waiting until %s (in flight %v, abandoned %v)", what, u.inflight, u.abandoned)
		}
	}
}

// newUpstreamEnv is newTestEnv with the sandbox behind an upstream recorder.
func newUpstreamEnv(t *testing.T, opts ...sandbox.Option) (*testEnv, *upstream) {
	t.Helper()
	sb := sandbox.New(opts...)
	u := &upstream{sb: sb, changed: make(chan struct{})}
	hs := httptest.NewServer(u) // 127.0.0.1
	t.Cleanup(hs.Close)
	key, secret := sb.ServerCredentials()
	return &testEnv{sb: sb, endpoint: hs.URL + "/v2", key: key, secret: secret, state: t.TempDir()}, u
}

// eventually polls cond every 10 ms for at most 30 s: a bounded wait for something the test
// cannot be told about directly.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// auditOutcome returns the outcome the audit log recorded for tool, "" while there is none:
// the handler writes it when the call has fully ended, polling included.
func auditOutcome(t *testing.T, path, tool string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct{ Tool, Outcome string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Tool == tool {
			return rec.Outcome
		}
	}
	return ""
}

// assertNoMorePolls checks that, once the call has ended, no further operation poll arrives
// while a poll would have been sent many times over (--poll-interval 5ms).
func assertNoMorePolls(t *testing.T, sb *sandbox.Sandbox, u *upstream) {
	t.Helper()
	u.waitUntil(t, "no upstream request is in flight", func(inflight, _ []string) bool { return len(inflight) == 0 })
	before := sb.Requests(http.MethodGet, "/operation/*")
	time.Sleep(300 * time.Millisecond) // 60 poll intervals: only a negative check, it cannot flake
	// One poll may already have been on the wire when the call was cancelled, and reach the
	// sandbox after the call ended; a poller still running would have added dozens.
	assert.LessOrEqual(t, sb.Requests(http.MethodGet, "/operation/*")-before, 1, "polling stopped with the call")
}

// cancelWhere is the moment a client gives up on an awaited delete.
type cancelWhere struct {
	name string
	// hold: the upstream DELETE itself hangs (the server is waiting for its answer); otherwise
	// the operation stays pending and the server is polling it.
	hold bool
}

var cancelMoments = []cancelWhere{{"upstream-request-in-flight", true}, {"polling", false}}

// startAwaitedDelete prepares an env where delete-api-key waits: on the DELETE itself or on its
// pending operation. It returns the env, its upstream recorder, the server's audit log and the
// call's arguments.
func startAwaitedDelete(t *testing.T, where cancelWhere) (*testEnv, *upstream, string, map[string]any) {
	t.Helper()
	env, u := newUpstreamEnv(t, sandbox.WithPendingPolls(1<<30))
	key := env.restrictedKey(t)
	if where.hold {
		env.sb.Inject(sandbox.Fault{Method: http.MethodDelete, Path: "/api-key/" + key, Delay: time.Hour})
	}
	return env, u, filepath.Join(t.TempDir(), "audit.log"), map[string]any{"id": key}
}

// waitMidWait blocks until the call is waiting where it should.
func waitMidWait(t *testing.T, env *testEnv, u *upstream, where cancelWhere, key string) {
	t.Helper()
	if where.hold {
		u.waitUntil(t, "the DELETE is held upstream", func(inflight, _ []string) bool {
			return slices.Contains(inflight, "DELETE /api-key/"+key)
		})
		return
	}
	eventually(t, "the server polls the pending operation", func() bool {
		return env.sb.Requests(http.MethodGet, "/operation/*") >= 3
	})
}

// assertStopped checks that, after the client went away, the held upstream request was
// abandoned (its connection closed by the server), the call ended, and polling stopped.
func assertStopped(t *testing.T, env *testEnv, u *upstream, where cancelWhere, audit string, key string) {
	t.Helper()
	if where.hold {
		u.waitUntil(t, "the held DELETE is abandoned by the server", func(_, abandoned []string) bool {
			return slices.Contains(abandoned, "DELETE /api-key/"+key)
		})
	}
	eventually(t, "the call has ended (audit log)", func() bool { return auditOutcome(t, audit, "delete-api-key") != "" })
	assert.Equal(t, "error", auditOutcome(t, audit, "delete-api-key"))
	assertNoMorePolls(t, env.sb, u)
	if where.hold {
		assert.Zero(t, env.sb.Requests(http.MethodGet, "/operation/*"), "no operation was ever polled")
		assert.True(t, slices.ContainsFunc(env.sb.State().APIKeys, func(k sandbox.APIKey) bool { return k.Key == key }),
			"the held DELETE never reached the handler: the key is still there")
	}
	assert.Equal(t, 1, env.sb.Requests(http.MethodDelete, "/api-key/"+key), "the delete was sent once, not resent")
}

// TestCancel_NotificationStopsUpstreamRequestAndPolling: the client cancels its tools/call
// (the SDK sends notifications/cancelled) while the server waits on Exoscale: the upstream
// request is aborted, polling stops, and the session keeps working.
func TestCancel_NotificationStopsUpstreamRequestAndPolling(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Run("cases", func(t *testing.T) {
		// Over HTTP both protocol eras: the SDK's latest (2026-07-28, one POST per call) and
		// 2025-11-25 (stateful sessions).
		for _, transport := range []string{"stdio", "http", "http-2025-11-25"} {
			for _, where := range cancelMoments {
				t.Run(transport+"/"+where.name, func(t *testing.T) {
					t.Parallel()
					env, u, audit, args := startAwaitedDelete(t, where)
					var s *srv
					switch transport {
					case "stdio":
						s = env.startStdio(t, nil, nil, "--audit-log", audit)
					case "http":
						s = env.startHTTP(t, nil, nil, nil, "--audit-log", audit)
					default:
						s = connectHTTPVersion(t, env, "2025-11-25", "--audit-log", audit)
					}
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					errc := make(chan error, 1)
					go func() {
						_, err := s.session.CallTool(ctx, &sdk.CallToolParams{Name: "delete-api-key", Arguments: args})
						errc <- err
					}()
					waitMidWait(t, env, u, where, args["id"].(string))
					cancel()
					select {
					case err := <-errc:
						require.ErrorIs(t, err, context.Canceled)
					case <-time.After(30 * time.Second):
						t.Fatal("CallTool did not return after its context was cancelled")
					}
					assertStopped(t, env, u, where, audit, args["id"].(string))
					// The session survives its cancelled call.
					s.ok(t, "list-api-keys", nil)
				})
			}
		}
	})
	goleak.VerifyNone(t, ignore)
}

// connectHTTPVersion starts the HTTP server and connects the SDK client speaking version.
func connectHTTPVersion(t *testing.T, env *testEnv, version string, flags ...string) *srv {
	t.Helper()
	url, stderr := env.startHTTPServer(t, nil, flags...)
	client := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Timeout: 30 * time.Second}, MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	require.NoError(t, err, "connect\nstderr:\n%s", stderr)
	require.Equal(t, version, cs.InitializeResult().ProtocolVersion)
	t.Cleanup(func() { cs.Close() })
	return &srv{session: cs, stderr: stderr, url: url}
}

// TestCancel_DisconnectStopsUpstreamRequestAndPolling: the client goes away without a word
// (its connections close, or stdin ends) while the server waits on Exoscale: the upstream
// request is aborted and polling stops.
func TestCancel_DisconnectStopsUpstreamRequestAndPolling(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Run("cases", func(t *testing.T) {
		for _, transport := range []string{"stdio", "http"} {
			for _, where := range cancelMoments {
				t.Run(transport+"/"+where.name, func(t *testing.T) {
					t.Parallel()
					env, u, audit, args := startAwaitedDelete(t, where)
					var disconnect func()
					if transport == "stdio" {
						disconnect = rawStdioCall(t, env, args, "--audit-log", audit)
					} else {
						disconnect = httpCallThenVanish(t, env, args, "--audit-log", audit)
					}
					waitMidWait(t, env, u, where, args["id"].(string))
					disconnect()
					assertStopped(t, env, u, where, audit, args["id"].(string))
				})
			}
		}
	})
	goleak.VerifyNone(t, ignore)
}

// rawStdioCall starts the stdio server, initializes it and sends a tools/call without waiting
// for its answer. The returned func disconnects: it ends the server's input, as a client
// process that dies does, and waits for the server to stop.
func rawStdioCall(t *testing.T, env *testEnv, args map[string]any, flags ...string) func() {
	t.Helper()
	r := env.startRawStdio(t, flags...)
	r.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"vanishing","version":"1"}}}`)
	select {
	case l := <-r.lines:
		require.Contains(t, l, `"id":1`, "initialize answered")
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer to initialize\nstderr:\n%s", r.stderr.String())
	}
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": "delete-api-key", "arguments": args}})
	require.NoError(t, err)
	r.send(t, string(b))
	return func() { r.stop(t) }
}

// connTracker is a dialer that remembers its connections, so a test can cut them all.
type connTracker struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (c *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		c.mu.Lock()
		c.conns = append(c.conns, conn)
		c.mu.Unlock()
	}
	return conn, err
}

func (c *connTracker) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
}

// httpCallThenVanish starts the HTTP server, connects an SDK client over connections it can
// cut, and starts a tools/call. The returned func disconnects: every connection of the client
// closes, with no DELETE of the session and no notifications/cancelled.
func httpCallThenVanish(t *testing.T, env *testEnv, args map[string]any, flags ...string) func() {
	t.Helper()
	url, stderr := env.startHTTPServer(t, nil, flags...)
	tracker := &connTracker{}
	tr := &http.Transport{DialContext: tracker.dial}
	t.Cleanup(tr.CloseIdleConnections)
	client := sdk.NewClient(&sdk.Implementation{Name: "vanishing", Version: "1"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: tr}, MaxRetries: -1}, nil)
	require.NoError(t, err, "connect\nstderr:\n%s", stderr)
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "delete-api-key", Arguments: args})
		errc <- err
	}()
	var once sync.Once
	disconnect := func() {
		once.Do(func() {
			tracker.closeAll()
			select {
			case err := <-errc:
				assert.Error(t, err, "the call cannot succeed once its connection is gone")
			case <-time.After(30 * time.Second):
				t.Error("CallTool did not return after its connection was cut")
			}
		})
	}
	// Only at the end: closing the session sends a DELETE, which must not be what stops the
	// call under test.
	t.Cleanup(func() {
		disconnect()
		cancel()
		cs.Close()
	})
	return disconnect
}

// The fault matrix retries GETs and PUTs against a sandbox that fails every attempt: the
// retries are what it checks (count, wording, nothing applied twice), not the real waits
// between them, which apiclient's own tests pin.
func init() {
	retryBackoff = func(int, time.Duration) time.Duration { return time.Millisecond }
}
