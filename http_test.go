package main

// End-to-end tests of the http command: exposure rules, bearer token, Origin and Host checks,
// body and query limits, rate limits, the session cap, session end, graceful shutdown, TLS and
// multi-tenant credentials, on a server bound to 127.0.0.1:0. Refusals are checked on the wire
// (status, headers); what works is checked through the official Go SDK client against the
// sandbox. Each check's cases in full are unit tests in internal/httpserve.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// sessionProtocol is the newest protocol version with sessions (Mcp-Session-Id, DELETE). The SDK's
// default, 2026-07-28, has none.
const sessionProtocol = "2025-11-25"

// rawInitializeBody is a legacy initialize request; pad adds that many bytes of padding.
func rawInitializeBody(pad int) string {
	extra := ""
	if pad > 0 {
		extra = `,"pad":"` + strings.Repeat("x", pad) + `"`
	}
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + sessionProtocol +
		`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}` + extra + `}}`
}

// rawToolsCallBody calls list-zones with an argument padded to about size bytes.
func rawToolsCallBody(size int) string {
	return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list-zones","arguments":{"pad":"` +
		strings.Repeat("x", max(size-100, 0)) + `"}}}`
}

// rawAnswer is one raw HTTP exchange.
type rawAnswer struct {
	status int
	header http.Header
	body   string
}

// rawSend makes one raw request. "Host" in hdr sets the Host header. An event stream's body is not
// read (it would not end).
func rawSend(t *testing.T, method, url string, hdr map[string]string, body io.Reader) rawAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer resp.Body.Close()
	w := rawAnswer{status: resp.StatusCode, header: resp.Header}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		require.NoError(t, err)
		w.body = string(b)
	}
	return w
}

func rawPost(t *testing.T, url string, hdr map[string]string, body string) rawAnswer {
	t.Helper()
	return rawSend(t, http.MethodPost, url, hdr, strings.NewReader(body))
}

// retryAfterSeconds parses a Retry-After header in seconds, failing the test when it is not one.
func retryAfterSeconds(t *testing.T, h http.Header) int {
	t.Helper()
	n, err := strconv.Atoi(h.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q is not a number of seconds", h.Get("Retry-After"))
	require.Positive(t, n)
	return n
}

// clientTransport adds headers to every request of an SDK client and records each answer.
type clientTransport struct {
	header http.Header
	base   *http.Transport

	mu      sync.Mutex
	answers []rawAnswer // status and headers only
}

func newClientTransport(t *testing.T, header map[string]string, tlsConfig *tls.Config) *clientTransport {
	ct := &clientTransport{header: http.Header{}, base: &http.Transport{TLSClientConfig: tlsConfig}}
	for k, v := range header {
		ct.header.Set(k, v)
	}
	t.Cleanup(ct.base.CloseIdleConnections)
	return ct
}

func (c *clientTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range c.header {
		r.Header[k] = v
	}
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.answers = append(c.answers, rawAnswer{status: resp.StatusCode, header: resp.Header.Clone()})
		c.mu.Unlock()
	}
	return resp, err
}

func (c *clientTransport) client() *http.Client {
	return &http.Client{Transport: c, Timeout: 30 * time.Second}
}

// answered returns the answers with this status.
func (c *clientTransport) answered(status int) []rawAnswer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []rawAnswer
	for _, a := range c.answers {
		if a.status == status {
			out = append(out, a)
		}
	}
	return out
}

// sdkDial connects an SDK client; version "" is the SDK's default (sessionless 2026-07-28).
func sdkDial(t *testing.T, url string, hc *http.Client, version string) (*sdk.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opts *sdk.ClientSessionOptions
	if version != "" {
		opts = &sdk.ClientSessionOptions{ProtocolVersion: version}
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "http-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, opts)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

func mustSDKDial(t *testing.T, url string, hc *http.Client, version string) *srv {
	t.Helper()
	cs, err := sdkDial(t, url, hc, version)
	require.NoError(t, err, "connect")
	return &srv{session: cs, url: url}
}

func sdkCall(cs *sdk.ClientSession, name string, args map[string]any) (*sdk.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
}

// controlledServer is an "http" server under test whose end the test controls.
type controlledServer struct {
	addr   string
	base   string // scheme://addr
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int

	once sync.Once
	code int
}

// launchHTTP starts "http" on 127.0.0.1:0 and waits until /healthz answers through hc.
func (e *testEnv) launchHTTP(t *testing.T, env map[string]string, hc *http.Client, scheme string, args ...string) *controlledServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &controlledServer{stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		s.done <- run(ctx, append([]string{"http", "--listen", "127.0.0.1:0", "--poll-interval", "5ms"}, args...), nil, io.Discard, s.stderr, e.getenv(env))
	}()
	t.Cleanup(func() {
		if s.stop() < 0 {
			t.Error("http server did not stop")
		}
	})
	s.addr = listeningAddr(t, s.done, s.stderr)
	s.base = scheme + "://" + s.addr
	for range 200 {
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("server exited with %d:\n%s", code, s.stderr.String())
		default:
		}
		resp, err := hc.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("server at %s never became healthy:\n%s", s.base, s.stderr.String())
	return nil
}

// stop cancels the server's context and returns its exit code (-1: it did not stop).
func (s *controlledServer) stop() int {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.code = <-s.done:
		case <-time.After(30 * time.Second):
			s.code = -1
		}
	})
	return s.code
}

// upstreamRecorder sits in front of the sandbox and records, per request line, the credential=
// of the Authorization header each request was signed with. Requests matching hold (a request
// line) wait until release is closed.
type upstreamRecorder struct {
	next    http.Handler
	hold    string
	release chan struct{}
	held    atomic.Int64

	mu   sync.Mutex
	seen map[string][]string // "GET /api-key/EXO…" → credentials, in order
}

func (u *upstreamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cred := ""
	if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), "credential="); ok {
		cred, _, _ = strings.Cut(rest, ",")
	}
	u.mu.Lock()
	k := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/v2")
	u.seen[k] = append(u.seen[k], cred)
	u.mu.Unlock()
	if u.hold != "" && k == u.hold {
		u.held.Add(1)
		select {
		case <-u.release:
		case <-r.Context().Done():
		}
	}
	u.next.ServeHTTP(w, r)
}

func (u *upstreamRecorder) credentials(method, path string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen[method+" "+path]...)
}

// byCredential counts all recorded requests per credential.
func (u *upstreamRecorder) byCredential() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]int{}
	for _, creds := range u.seen {
		for _, c := range creds {
			out[c]++
		}
	}
	return out
}

func (u *upstreamRecorder) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	clear(u.seen)
}

// newRecordingEnv is newTestEnv with an upstreamRecorder in front of the sandbox.
func newRecordingEnv(t *testing.T) (*testEnv, *upstreamRecorder) {
	return newHoldingEnv(t, "")
}

// newHoldingEnv is newRecordingEnv holding the requests matching hold ("GET /api-key") until
// the recorder's release is closed.
func newHoldingEnv(t *testing.T, hold string) (*testEnv, *upstreamRecorder) {
	t.Helper()
	sb := sandbox.New()
	rec := &upstreamRecorder{next: sb, seen: map[string][]string{}, hold: hold, release: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-rec.release:
		default:
			close(rec.release)
		}
	})
	ts := httptest.NewServer(rec)
	t.Cleanup(ts.Close)
	key, secret := sb.ServerCredentials()
	return &testEnv{sb: sb, endpoint: ts.URL + "/v2", key: key, secret: secret, state: t.TempDir()}, rec
}

// headerTenant is one user of a multi-tenant server: an IAM key of its own and the key's role.
type headerTenant struct {
	creds apiclient.Credentials
	role  string
}

func (tn headerTenant) headers() map[string]string {
	return map[string]string{"X-Exoscale-Api-Key": tn.creds.Key, "X-Exoscale-Api-Secret": tn.creds.Secret}
}

// mintHeaderTenant creates, with the sandbox's admin key, an IAM key on roleID ("" = a fresh role
// whose policy allows everything).
func mintHeaderTenant(t *testing.T, env *testEnv, name, roleID string) headerTenant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := apiclient.New(apiclient.Config{
		Endpoint:    env.endpoint,
		Credentials: apiclient.Credentials{Key: env.key, Secret: env.secret},
		Poll:        apiclient.PollConfig{First: time.Millisecond, Interval: 5 * time.Millisecond},
	})
	require.NoError(t, err)
	if roleID == "" {
		body := `{"name":"` + name + `-role","policy":{"default-service-strategy":"allow","services":{}}}`
		resp, err := c.Do(ctx, apiclient.Request{Operation: "create-iam-role", Method: http.MethodPost, Path: "/iam-role", Body: []byte(body)})
		require.NoError(t, err)
		var op apiclient.Operation
		require.NoError(t, json.Unmarshal(resp.Body, &op))
		final, err := c.Wait(ctx, &op, nil)
		require.NoError(t, err)
		require.NotNil(t, final.Reference)
		roleID = final.Reference.ID
	}
	body := `{"name":"` + name + `","role-id":"` + roleID + `"}`
	resp, err := c.Do(ctx, apiclient.Request{Operation: "create-api-key", Method: http.MethodPost, Path: "/api-key", Body: []byte(body)})
	require.NoError(t, err)
	var k struct{ Key, Secret string }
	require.NoError(t, json.Unmarshal(resp.Body, &k))
	require.NotEmpty(t, k.Key)
	require.NotEmpty(t, k.Secret)
	return headerTenant{creds: apiclient.Credentials{Key: k.Key, Secret: k.Secret}, role: roleID}
}

// --- exposure -------------------------------------------------------------------------------

// TestHTTP_RefusesToStartExposed: off loopback, the server needs a bearer token and TLS (or
// the explicit waiver), and the token never comes from a flag value. Every case here is refused
// before anything is bound.
func TestHTTP_RefusesToStartExposed(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("file-token-123\n"), 0o600))
	emptyFile := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(emptyFile, []byte(" \n"), 0o600))
	token := map[string]string{"EXOSCALE_MCP_AUTH_TOKEN": "env-token-456"}

	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		want       []string // in stderr
		wantAbsent []string
		usage      bool // a command-line mistake: exit status 2
	}{
		{name: "all interfaces without a token", args: []string{"--listen", "0.0.0.0:0"},
			want: []string{"refusing to listen on 0.0.0.0:0", "not loopback", "bearer token", "EXOSCALE_MCP_AUTH_TOKEN", "--auth-token-file", "TLS"}},
		{name: "empty host is every interface", args: []string{"--listen", ":0"},
			want: []string{"refusing", "bearer token"}},
		{name: "IPv6 any", args: []string{"--listen", "[::]:0"},
			want: []string{"refusing", "bearer token"}},
		{name: "a public address", args: []string{"--listen", "192.0.2.10:8080"},
			want: []string{"refusing", "bearer token"}},
		{name: "a host name that is not localhost", args: []string{"--listen", "mcp.example.com:8080"},
			want: []string{"refusing", "bearer token"}},
		{name: "TLS alone is not enough", args: []string{"--listen", "0.0.0.0:0", "--allow-insecure-http"},
			want: []string{"refusing", "bearer token"}, wantAbsent: []string{"TLS ("}},
		{name: "a token without TLS", env: token, args: []string{"--listen", "0.0.0.0:0"},
			want: []string{"refusing", "TLS", "--allow-insecure-http"}, wantAbsent: []string{"bearer token", "env-token-456"}},
		{name: "a token file without TLS", args: []string{"--listen", "0.0.0.0:0", "--auth-token-file", tokenFile},
			want: []string{"refusing", "TLS"}, wantAbsent: []string{"bearer token", "file-token-123"}},
		{name: "an empty token file", args: []string{"--listen", "127.0.0.1:0", "--auth-token-file", emptyFile},
			want: []string{"--auth-token-file", "empty"}},
		{name: "a missing token file", args: []string{"--listen", "127.0.0.1:0", "--auth-token-file", filepath.Join(dir, "nope")},
			want: []string{"--auth-token-file"}},
		{name: "a token as a flag value", args: []string{"--listen", "127.0.0.1:0", "--auth-token", "flag-token-789"},
			want: []string{"flag provided but not defined: -auth-token"}, wantAbsent: []string{"flag-token-789"}, usage: true},
		{name: "a token as a flag value with =", args: []string{"--listen", "127.0.0.1:0", "--token=flag-token-789"},
			want: []string{"flag provided but not defined: -token"}, wantAbsent: []string{"flag-token-789"}, usage: true},
		{name: "a certificate without its key", args: []string{"--listen", "127.0.0.1:0", "--tls-cert", tokenFile},
			want: []string{"--tls-cert", "--tls-key"}},
		{name: "a key without its certificate", args: []string{"--listen", "127.0.0.1:0", "--tls-key", tokenFile},
			want: []string{"--tls-cert", "--tls-key"}},
		{name: "an unreadable certificate", args: []string{"--listen", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "nope.pem"), "--tls-key", tokenFile},
			want: []string{"TLS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stderr := &syncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, append([]string{"http"}, tc.args...), nil, io.Discard, stderr, env.getenv(tc.env))
			}()
			var code int
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				cancel()
				<-done
				t.Fatalf("the server started instead of refusing:\n%s", stderr.String())
			}
			wantCode := 1
			if tc.usage {
				wantCode = 2
			}
			assert.Equal(t, wantCode, code)
			for _, w := range tc.want {
				assert.Contains(t, stderr.String(), w)
			}
			for _, w := range tc.wantAbsent {
				assert.NotContains(t, stderr.String(), w)
			}
		})
	}
}

// --- token, origin, host ----------------------------------------------------------------------

// TestHTTP_BearerToken: with a token, /mcp answers 401 with WWW-Authenticate: Bearer unless
// the request carries it; the token is never logged, even at debug level.
func TestHTTP_BearerToken(t *testing.T) {
	t.Parallel()
	const token = "tok-3f9a1c77e2d04b6b9d1e"
	const wrong = "tok-3f9a1c77e2d04b6b9d1f"
	env := newTestEnv(t)
	url, stderr := env.startHTTPServer(t, map[string]string{"EXOSCALE_MCP_AUTH_TOKEN": token}, "--log-level", "debug")

	for _, tc := range []struct {
		name, authorization string
		want                int
	}{
		// Every spelling is in internal/httpserve's TestBearer_ExactTokenOnly; these are on the wire.
		{"no Authorization", "", http.StatusUnauthorized},
		{"wrong token", "Bearer " + wrong, http.StatusUnauthorized},
		{"right token", "Bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.authorization != "" {
				hdr["Authorization"] = tc.authorization
			}
			w := rawPost(t, url, hdr, rawInitializeBody(0))
			require.Equal(t, tc.want, w.status, w.body)
			if tc.want == http.StatusUnauthorized {
				assert.True(t, strings.HasPrefix(w.header.Get("WWW-Authenticate"), "Bearer"), "WWW-Authenticate: %q", w.header.Get("WWW-Authenticate"))
				assert.Contains(t, w.body, "bearer token")
				assert.NotContains(t, w.body, token)
				// Every method is guarded, not just POST.
				for _, m := range []string{http.MethodGet, http.MethodDelete} {
					w := rawSend(t, m, url, hdr, nil)
					assert.Equal(t, http.StatusUnauthorized, w.status, m)
				}
			}
		})
	}

	// The SDK client with the token works, for both protocol eras.
	for _, version := range []string{"", sessionProtocol} {
		ct := newClientTransport(t, map[string]string{"Authorization": "Bearer " + token}, nil)
		s := mustSDKDial(t, url, ct.client(), version)
		assert.Equal(t, servedNames(), toolNames(t, s))
		assert.Len(t, s.ok(t, "list-zones", nil)["zones"], 8)
	}
	_, err := sdkDial(t, url, newClientTransport(t, map[string]string{"Authorization": "Bearer " + wrong}, nil).client(), "")
	require.Error(t, err, "a client with the wrong token cannot connect")

	// /healthz stays open for probes and says nothing.
	w := rawSend(t, http.MethodGet, strings.TrimSuffix(url, "/mcp")+"/healthz", nil, nil)
	assert.Equal(t, http.StatusOK, w.status)
	assert.JSONEq(t, `{"status":"ok"}`, w.body)

	logs := stderr.String()
	assert.NotEmpty(t, logs)
	assert.NotContains(t, logs, token)
	assert.NotContains(t, logs, wrong)
	assert.NotContains(t, logs, token[:10])
}

// TestHTTP_BearerTokenFromFile: --auth-token-file works like the environment variable.
func TestHTTP_BearerTokenFromFile(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("file-token-5c1d\n"), 0o600))
	url, stderr := env.startHTTPServer(t, nil, "--auth-token-file", file, "--log-level", "debug")

	w := rawPost(t, url, nil, rawInitializeBody(0))
	assert.Equal(t, http.StatusUnauthorized, w.status)
	assert.True(t, strings.HasPrefix(w.header.Get("WWW-Authenticate"), "Bearer"))
	ct := newClientTransport(t, map[string]string{"Authorization": "Bearer file-token-5c1d"}, nil)
	s := mustSDKDial(t, url, ct.client(), "")
	assert.Len(t, s.ok(t, "list-zones", nil)["zones"], 8)
	assert.NotContains(t, stderr.String(), "file-token-5c1d")
}

// TestHTTP_OriginValidation: a present Origin must be loopback or listed in --allowed-origins
// (DNS rebinding, MCP spec); mcp-go's Host check stays on.
func TestHTTP_OriginValidation(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil, "--allowed-origins", "https://app.example.com, https://other.example.com")
	port := url[strings.LastIndex(url, ":")+1 : strings.LastIndex(url, "/")]

	for _, tc := range []struct {
		origin string
		want   int
	}{
		// Every spelling is in internal/httpserve's TestOrigin_LoopbackOrAllowedOnly.
		{"", http.StatusOK},
		{"http://127.0.0.1:" + port, http.StatusOK},
		{"https://other.example.com", http.StatusOK},
		{"http://evil.example:" + port, http.StatusForbidden},
		{"http://localhost.evil.example", http.StatusForbidden},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.origin != "" {
				hdr["Origin"] = tc.origin
			}
			w := rawPost(t, url, hdr, rawInitializeBody(0))
			require.Equal(t, tc.want, w.status, w.body)
			if tc.want == http.StatusForbidden {
				assert.Contains(t, w.body, "origin not allowed")
				assert.Contains(t, w.body, "--allowed-origins", "the refusal says what to do")
				assert.Equal(t, http.StatusForbidden, rawSend(t, http.MethodGet, url, hdr, nil).status)
			} else {
				assert.NotEmpty(t, w.header.Get("Mcp-Session-Id"))
			}
		})
	}

	t.Run("Host check", func(t *testing.T) {
		for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1.nip.io:" + port} {
			w := rawPost(t, url, map[string]string{"Host": host}, rawInitializeBody(0))
			assert.Equal(t, http.StatusForbidden, w.status, "Host %s: %s", host, w.body)
		}
		assert.Equal(t, http.StatusOK, rawPost(t, url, map[string]string{"Host": "localhost:" + port}, rawInitializeBody(0)).status)
	})
	// The SDK client on loopback is unaffected.
	s := mustSDKDial(t, url, nil, "")
	assert.Len(t, s.ok(t, "list-zones", nil)["zones"], 8)
}

// --- limits ---------------------------------------------------------------------------------

// TestHTTP_BodyLimit: a body over the limit is a 413 from us, with or without a Content-Length,
// not a JSON-RPC parse error from mcp-go, and nothing goes upstream.
func TestHTTP_BodyLimit(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil)
	small, _ := env.startHTTPServer(t, nil, "--max-body", "4096")

	huge := rawToolsCallBody(2 << 20)
	for _, tc := range []struct {
		name    string
		url     string
		body    io.Reader
		chunked bool
	}{
		{"2 MiB with Content-Length", url, strings.NewReader(huge), false},
		{"2 MiB chunked", url, struct{ io.Reader }{strings.NewReader(huge)}, true},
		{"just over a configured limit", small, strings.NewReader(rawToolsCallBody(4097 + 100)), false},
		{"just over a configured limit, chunked", small, struct{ io.Reader }{strings.NewReader(rawToolsCallBody(4097 + 100))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := rawSend(t, http.MethodPost, tc.url, nil, tc.body)
			require.Equal(t, http.StatusRequestEntityTooLarge, w.status, w.body)
			assert.NotContains(t, w.body, "jsonrpc", "an HTTP error, not a JSON-RPC one")
			var e map[string]string
			require.NoError(t, json.Unmarshal([]byte(w.body), &e), w.body)
			assert.Contains(t, e["error"], "request body over")
		})
	}
	assert.Zero(t, env.sb.Requests("", ""), "nothing reached the sandbox")

	// Bodies up to the limit pass: the limit does not bite normal traffic.
	w := rawPost(t, url, nil, rawInitializeBody(1<<20-300))
	assert.Equal(t, http.StatusOK, w.status, w.body)
	w = rawPost(t, small, nil, rawInitializeBody(4096-300))
	assert.Equal(t, http.StatusOK, w.status, w.body)
}

// TestHTTP_QueryStringCredentials: credentials in the query string are refused (400) in any
// case and however the query is spelled, and the refusal does not echo them.
func TestHTTP_QueryStringCredentials(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tenantURL, _ := env.startHTTPServer(t, nil, "--credentials-from-headers")
	plainURL, _ := env.startHTTPServer(t, nil)
	creds := map[string]string{"X-Exoscale-Api-Key": env.key, "X-Exoscale-Api-Secret": env.secret}

	for _, tc := range []struct {
		query   string
		refused bool
	}{
		// Every spelling is in internal/httpserve's TestQueryCredentials_RefusedHoweverSpelled.
		{"API_KEY=EXOabc", true},
		{"foo=1;X-Exoscale-Api-Secret=s3cr3tvalue", true},
		{"access_token=s3cr3tvalue", true},
		{"zone=ch-gva-2", false},
		{"", false},
	} {
		t.Run(tc.query, func(t *testing.T) {
			for name, u := range map[string]string{"multi-tenant": tenantURL, "single-tenant": plainURL} {
				q := u
				if tc.query != "" {
					q += "?" + tc.query
				}
				w := rawPost(t, q, creds, rawInitializeBody(0))
				if !tc.refused {
					assert.Equal(t, http.StatusOK, w.status, "%s: %s", name, w.body)
					continue
				}
				assert.Equal(t, http.StatusBadRequest, w.status, "%s: %s", name, w.body)
				assert.Contains(t, w.body, "query string")
				assert.NotContains(t, w.body, "s3cr3tvalue")
				assert.NotContains(t, w.body, "EXOabc")
				assert.Equal(t, http.StatusBadRequest, rawSend(t, http.MethodGet, q, creds, nil).status, "%s GET", name)
			}
		})
	}
	assert.Zero(t, env.sb.Requests("", ""))
}

// TestHTTP_RateLimitPerSession: a session over its limit gets 429 with Retry-After; another
// session is unaffected.
func TestHTTP_RateLimitPerSession(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil, "--session-rate", "0.001", "--session-burst", "6")

	ct := newClientTransport(t, nil, nil)
	cs, err := sdkDial(t, url, ct.client(), sessionProtocol)
	require.NoError(t, err)
	id := cs.ID()
	require.NotEmpty(t, id)
	limited := false
	for range 20 {
		if _, err := sdkCall(cs, "list-zones", nil); err != nil {
			limited = true
			break
		}
	}
	require.True(t, limited, "the session was never limited")
	got := ct.answered(http.StatusTooManyRequests)
	require.NotEmpty(t, got, "the client saw a 429")
	retryAfterSeconds(t, got[0].header)

	w := rawPost(t, url, map[string]string{"Mcp-Session-Id": id, "Mcp-Protocol-Version": sessionProtocol}, rawToolsCallBody(0))
	require.Equal(t, http.StatusTooManyRequests, w.status, w.body)
	assert.GreaterOrEqual(t, retryAfterSeconds(t, w.header), 2, "Retry-After says when a call is allowed again (0.001/s), not a fixed second")
	assert.Contains(t, w.body, "rate limit")

	// Another session has its own budget.
	other := mustSDKDial(t, url, nil, sessionProtocol)
	assert.Len(t, other.ok(t, "list-zones", nil)["zones"], 8)

	// Sessionless clients (2026-07-28) of a single-tenant server are not limited per address:
	// many agents share a host or a proxy. The overall limit still holds (RateLimitOverall).
	modern := mustSDKDial(t, url, nil, "")
	for i := range 10 {
		res, err := sdkCall(modern.session, "list-zones", nil)
		require.NoError(t, err, "call %d", i)
		require.False(t, res.IsError, text(res))
	}
}

// TestHTTP_RateLimitPerTenantWithoutSessions: clients of the sessionless protocol (2026-07-28)
// are limited per credential in multi-tenant mode: one tenant over its budget does not slow
// another.
func TestHTTP_RateLimitPerTenantWithoutSessions(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	a := mintHeaderTenant(t, env, "tenant-a", sandbox.AdminRoleID)
	b := mintHeaderTenant(t, env, "tenant-b", sandbox.AdminRoleID)
	url, _ := env.startHTTPServer(t, nil, "--credentials-from-headers", "--session-rate", "0.001", "--session-burst", "4")

	cta := newClientTransport(t, a.headers(), nil)
	sa := mustSDKDial(t, url, cta.client(), "")
	limited := false
	for range 20 {
		if _, err := sdkCall(sa.session, "list-zones", nil); err != nil {
			limited = true
			break
		}
	}
	require.True(t, limited, "tenant a was never limited")
	got := cta.answered(http.StatusTooManyRequests)
	require.NotEmpty(t, got)
	retryAfterSeconds(t, got[0].header)
	// A new connection with the same credential shares the budget.
	_, err := sdkDial(t, url, newClientTransport(t, a.headers(), nil).client(), "")
	require.Error(t, err)

	sb := mustSDKDial(t, url, newClientTransport(t, b.headers(), nil).client(), "")
	assert.Len(t, sb.ok(t, "list-zones", nil)["zones"], 8, "tenant b is not slowed by tenant a")
}

// TestHTTP_RateLimitOverall: past the server-wide budget every client gets 429 with
// Retry-After; /healthz still answers.
func TestHTTP_RateLimitOverall(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil, "--rate", "0.001", "--burst", "5")

	ct := newClientTransport(t, nil, nil)
	s := mustSDKDial(t, url, ct.client(), "")
	limited := false
	for range 20 {
		if _, err := sdkCall(s.session, "list-zones", nil); err != nil {
			limited = true
			break
		}
	}
	require.True(t, limited)
	require.NotEmpty(t, ct.answered(http.StatusTooManyRequests))

	for _, version := range []string{"", sessionProtocol} {
		other := newClientTransport(t, nil, nil)
		_, err := sdkDial(t, url, other.client(), version)
		require.Error(t, err, "a new client is over the server-wide budget too")
		got := other.answered(http.StatusTooManyRequests)
		require.NotEmpty(t, got)
		assert.GreaterOrEqual(t, retryAfterSeconds(t, got[0].header), 2)
	}
	w := rawSend(t, http.MethodGet, strings.TrimSuffix(url, "/mcp")+"/healthz", nil, nil)
	assert.Equal(t, http.StatusOK, w.status)
}

// TestHTTP_SessionCap: past --max-sessions a new session is refused (503, Retry-After) until
// one ends; sessionless clients and existing sessions are unaffected.
func TestHTTP_SessionCap(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil, "--max-sessions", "2")

	first := mustSDKDial(t, url, nil, sessionProtocol)
	second := mustSDKDial(t, url, nil, sessionProtocol)

	w := rawPost(t, url, nil, rawInitializeBody(0))
	require.Equal(t, http.StatusServiceUnavailable, w.status, w.body)
	retryAfterSeconds(t, w.header)
	assert.Contains(t, w.body, "too many live sessions")
	_, err := sdkDial(t, url, nil, sessionProtocol)
	require.Error(t, err)
	// An initialize carrying a live session's id would still start a new session: it counts too.
	hdr := map[string]string{"Mcp-Session-Id": first.session.ID(), "Mcp-Protocol-Version": sessionProtocol}
	for range 5 {
		assert.Equal(t, http.StatusServiceUnavailable, rawPost(t, url, hdr, rawInitializeBody(0)).status)
	}

	// Live sessions go on; a sessionless client never counts against the cap.
	assert.Len(t, first.ok(t, "list-zones", nil)["zones"], 8)
	modern := mustSDKDial(t, url, nil, "")
	assert.Len(t, modern.ok(t, "list-zones", nil)["zones"], 8)

	// Ending a session (DELETE) frees its place.
	require.NoError(t, first.session.Close())
	third := mustSDKDial(t, url, nil, sessionProtocol)
	assert.Len(t, third.ok(t, "list-zones", nil)["zones"], 8)
	assert.Len(t, second.ok(t, "list-zones", nil)["zones"], 8)
}

// TestHTTP_SessionCapHoldsUnderConcurrency: simultaneous initializes never overshoot the cap.
func TestHTTP_SessionCapHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil, "--max-sessions", "3")

	const n = 12
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := http.Post(url, "application/json", strings.NewReader(rawInitializeBody(0)))
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 3, http.StatusServiceUnavailable: n - 3}, count)
}

// --- sessions, health, shutdown ---------------------------------------------------------------

// TestHTTP_DeletedSessionIsGone: after DELETE, the session answers 404 to every method.
func TestHTTP_DeletedSessionIsGone(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil)

	s := mustSDKDial(t, url, nil, sessionProtocol)
	assert.Len(t, s.ok(t, "list-zones", nil)["zones"], 8)
	id := s.session.ID()
	require.NotEmpty(t, id)
	hdr := map[string]string{"Mcp-Session-Id": id, "Mcp-Protocol-Version": sessionProtocol}

	w := rawPost(t, url, hdr, rawToolsCallBody(0))
	require.Equal(t, http.StatusOK, w.status, "the session works before DELETE: %s", w.body)
	w = rawSend(t, http.MethodDelete, url, hdr, nil)
	require.Equal(t, http.StatusOK, w.status, w.body)

	w = rawPost(t, url, hdr, rawToolsCallBody(0))
	assert.Equal(t, http.StatusNotFound, w.status, w.body)
	w = rawSend(t, http.MethodGet, url, hdr, nil)
	assert.Equal(t, http.StatusNotFound, w.status, "a GET does not revive an ended session")
	_, err := sdkCall(s.session, "list-zones", nil)
	assert.Error(t, err, "the client's session is over")

	// A session id nobody was given is not found either.
	bogus := map[string]string{"Mcp-Session-Id": "mcp-session-00000000-0000-4000-8000-000000000000", "Mcp-Protocol-Version": sessionProtocol}
	assert.Equal(t, http.StatusNotFound, rawPost(t, url, bogus, rawToolsCallBody(0)).status)
	assert.Equal(t, http.StatusNotFound, rawSend(t, http.MethodGet, url, bogus, nil).status)
}

// TestHTTP_Healthz: GET /healthz answers 200 {"status":"ok"}, without touching Exoscale.
func TestHTTP_Healthz(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, map[string]string{"EXOSCALE_MCP_AUTH_TOKEN": "health-token"}, "--credentials-from-headers")
	base := strings.TrimSuffix(url, "/mcp")

	w := rawSend(t, http.MethodGet, base+"/healthz", nil, nil)
	assert.Equal(t, http.StatusOK, w.status)
	assert.Equal(t, "application/json", w.header.Get("Content-Type"))
	assert.JSONEq(t, `{"status":"ok"}`, w.body)
	assert.Equal(t, http.StatusMethodNotAllowed, rawSend(t, http.MethodPost, base+"/healthz", nil, strings.NewReader("{}")).status)
	assert.Equal(t, http.StatusNotFound, rawSend(t, http.MethodGet, base+"/", nil, nil).status)
	assert.Zero(t, env.sb.Requests("", ""))
}

// TestHTTP_GracefulShutdown: on cancel, calls in flight complete and are answered, an open
// listening stream (GET) does not hold the server up, the exit is clean, and the port is closed
// afterwards. The session with a stream is driven on the wire: how a client reacts to its
// stream ending while it reads an answer is the client's business.
func TestHTTP_GracefulShutdown(t *testing.T) {
	t.Parallel()
	env, upstream := newHoldingEnv(t, "GET /api-key")
	hc := &http.Client{Timeout: 30 * time.Second}
	s := env.launchHTTP(t, nil, hc, "http")
	url := s.base + "/mcp"

	modern := mustSDKDial(t, url, nil, "")
	w := rawPost(t, url, nil, rawInitializeBody(0))
	require.Equal(t, http.StatusOK, w.status, w.body)
	hdr := map[string]string{"Mcp-Session-Id": w.header.Get("Mcp-Session-Id"), "Mcp-Protocol-Version": sessionProtocol}
	require.Equal(t, http.StatusAccepted, rawPost(t, url, hdr, `{"jsonrpc":"2.0","method":"notifications/initialized"}`).status)

	// The session's listening stream, open until the server ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	stream, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer stream.Body.Close()
	require.Equal(t, http.StatusOK, stream.StatusCode)
	streamEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		streamEnded <- err
	}()

	sdkDone := make(chan error, 1)
	go func() {
		res, err := sdkCall(modern.session, "list-api-keys", nil)
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error: %s", text(res))
		}
		sdkDone <- err
	}()
	rawDone := make(chan rawAnswer, 1)
	go func() {
		// Not rawPost: require must not run outside the test goroutine.
		ans := rawAnswer{}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url,
			strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"list-api-keys","arguments":{}}}`))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ans = rawAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
			}
		}
		if err != nil {
			ans.body = err.Error()
		}
		rawDone <- ans
	}()
	for i := 0; upstream.held.Load() < 2; i++ {
		require.Less(t, i, 2000, "the calls never reached the sandbox")
		time.Sleep(5 * time.Millisecond)
	}

	stopped := make(chan int, 1)
	go func() { stopped <- s.stop() }()
	// Shutdown has begun once nothing accepts connections any more. The calls are still held
	// upstream, so the listening stream must still be open: streams end after the calls.
	for i := 0; ; i++ {
		require.Less(t, i, 2000, "the server never stopped accepting connections")
		resp, err := hc.Get(s.base + "/healthz")
		if err != nil {
			break
		}
		resp.Body.Close()
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-streamEnded:
		t.Fatalf("the listening stream ended (%v) while calls were still in flight: clients fail those calls", err)
	default:
	}
	close(upstream.release)
	require.NoError(t, <-sdkDone, "a call in flight when shutdown began completes")
	ans := <-rawDone
	assert.Equal(t, http.StatusOK, ans.status)
	assert.Contains(t, ans.body, "api-keys", "the session's call in flight was answered")
	assert.Equal(t, 0, <-stopped, "clean exit:\n%s", s.stderr.String())
	select {
	case <-streamEnded:
	case <-ctx.Done():
		t.Fatal("the listening stream was never ended")
	}
	_, err = hc.Get(s.base + "/healthz")
	assert.Error(t, err, "nothing listens after shutdown")
	assert.Contains(t, s.stderr.String(), "shutting down")
}

// TestHTTP_TLS: with --tls-cert and --tls-key the server speaks HTTPS.
func TestHTTP_TLS(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	certFile, keyFile, pool := selfSignedCert(t)
	tlsConfig := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	ct := newClientTransport(t, nil, tlsConfig)
	s := env.launchHTTP(t, nil, ct.client(), "https", "--tls-cert", certFile, "--tls-key", keyFile)

	c := mustSDKDial(t, s.base+"/mcp", ct.client(), "")
	assert.Len(t, c.ok(t, "list-zones", nil)["zones"], 8)
	assert.Contains(t, s.stderr.String(), "https://")

	resp, err := http.Get("http://" + s.addr + "/healthz")
	if err == nil {
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP is not served")
	}
}

func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// --- multi-tenant -----------------------------------------------------------------------------

// TestHTTP_MultiTenantSignsEachRequestWithItsTenantsKey: two tenants call in parallel, over both
// protocol eras; every request upstream is signed with the calling tenant's key, never the
// other's and never the server's own, and no tenant secret is logged.
func TestHTTP_MultiTenantSignsEachRequestWithItsTenantsKey(t *testing.T) {
	t.Parallel()
	env, rec := newRecordingEnv(t)
	a := mintHeaderTenant(t, env, "tenant-a", sandbox.AdminRoleID)
	b := mintHeaderTenant(t, env, "tenant-b", "")
	rec.reset()
	url, stderr := env.startHTTPServer(t, nil, "--credentials-from-headers", "--log-level", "debug")

	const calls = 6
	tenants := []headerTenant{a, b}
	var clients []*srv
	var owners []headerTenant
	for _, tn := range tenants {
		for _, version := range []string{"", sessionProtocol} {
			clients = append(clients, mustSDKDial(t, url, newClientTransport(t, tn.headers(), nil).client(), version))
			owners = append(owners, tn)
		}
	}
	errs := make(chan error, len(clients)*calls*2)
	var wg sync.WaitGroup
	for i, c := range clients {
		tn := owners[i]
		wg.Go(func() {
			for range calls {
				res, err := sdkCall(c.session, "get-api-key", map[string]any{"id": tn.creds.Key})
				if err == nil && res.IsError {
					err = fmt.Errorf("get-api-key: %s", text(res))
				}
				if err == nil {
					var got struct {
						Key    string `json:"key"`
						RoleID string `json:"role-id"`
					}
					b, _ := json.Marshal(res.StructuredContent)
					_ = json.Unmarshal(b, &got)
					if got.Key != tn.creds.Key || got.RoleID != tn.role {
						err = fmt.Errorf("tenant %s got key %s role %s", tn.creds.Key, got.Key, got.RoleID)
					}
				}
				errs <- err
				res, err = sdkCall(c.session, "get-iam-role", map[string]any{"id": tn.role})
				if err == nil && res.IsError {
					err = fmt.Errorf("get-iam-role: %s", text(res))
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	perTenant := calls * 2 // two clients per tenant
	for _, tn := range tenants {
		for _, path := range []string{"/api-key/" + tn.creds.Key, "/iam-role/" + tn.role} {
			creds := rec.credentials(http.MethodGet, path)
			assert.Len(t, creds, perTenant, path)
			for _, c := range creds {
				assert.Equal(t, tn.creds.Key, c, "GET %s signed with another key", path)
			}
		}
	}
	seen := rec.byCredential()
	assert.Equal(t, map[string]int{a.creds.Key: 2 * perTenant, b.creds.Key: 2 * perTenant}, seen,
		"only the tenants' keys signed, the server's own (%s) never", env.key)

	logs := stderr.String()
	for _, secret := range []string{a.creds.Secret, b.creds.Secret, env.secret} {
		assert.NotContains(t, logs, secret)
	}
}

// TestHTTP_MultiTenantNeedsCredentials: without both headers a request is a 401 saying what to
// send; a wrong secret is signed as sent (Exoscale refuses it), never replaced by the server's
// own credentials; the endpoint and zone never come from the client.
func TestHTTP_MultiTenantNeedsCredentials(t *testing.T) {
	t.Parallel()
	env, rec := newRecordingEnv(t)
	a := mintHeaderTenant(t, env, "tenant-a", sandbox.AdminRoleID)
	rec.reset()
	url, stderr := env.startHTTPServer(t, nil, "--credentials-from-headers", "--log-level", "debug")

	for name, hdr := range map[string]map[string]string{
		"no credentials": nil,
		"key only":       {"X-Exoscale-Api-Key": a.creds.Key},
		"secret only":    {"X-Exoscale-Api-Secret": a.creds.Secret},
		"empty values":   {"X-Exoscale-Api-Key": "", "X-Exoscale-Api-Secret": ""},
	} {
		t.Run(name, func(t *testing.T) {
			for _, body := range []string{rawInitializeBody(0), rawToolsCallBody(0)} {
				w := rawPost(t, url, hdr, body)
				require.Equal(t, http.StatusUnauthorized, w.status, w.body)
				assert.NotEmpty(t, w.header.Get("WWW-Authenticate"))
				assert.Contains(t, w.body, "X-Exoscale-Api-Key")
				assert.Contains(t, w.body, "X-Exoscale-Api-Secret")
			}
			_, err := sdkDial(t, url, newClientTransport(t, hdr, nil).client(), "")
			assert.Error(t, err)
		})
	}
	assert.Empty(t, rec.byCredential(), "nothing went upstream")

	// A wrong secret: signed with the tenant's key as given, refused upstream.
	wrong := headerTenant{creds: apiclient.Credentials{Key: a.creds.Key, Secret: "wrong-secret-0b3c"}}
	s := mustSDKDial(t, url, newClientTransport(t, wrong.headers(), nil).client(), "")
	msg := s.fails(t, "list-api-keys", nil)
	assert.Contains(t, msg, "403")
	assert.Equal(t, map[string]int{a.creds.Key: 1}, rec.byCredential())

	// The endpoint and zone are the server's: headers and query naming others are ignored.
	elsewhere := newTestEnv(t)
	hdr := a.headers()
	for k, v := range map[string]string{
		"X-Exoscale-Api-Endpoint": elsewhere.endpoint, "X-Exoscale-Endpoint": elsewhere.endpoint,
		"X-Exoscale-Zone": "de-fra-1", "X-Exoscale-Url": elsewhere.endpoint,
	} {
		hdr[k] = v
	}
	c := mustSDKDial(t, url+"?zone=de-fra-1&endpoint="+elsewhere.endpoint, newClientTransport(t, hdr, nil).client(), "")
	c.ok(t, "list-api-keys", nil)
	assert.Zero(t, elsewhere.sb.Requests("", ""), "the client chose no endpoint")
	assert.Equal(t, 2, rec.byCredential()[a.creds.Key])

	assert.NotContains(t, stderr.String(), a.creds.Secret)
	assert.NotContains(t, stderr.String(), "wrong-secret-0b3c")
	assert.Contains(t, stderr.String(), "tenants create or reveal are written to this server's disk", "the operator is warned at start-up")
}

// TestHTTP_MultiTenantRoleCacheNeverCrossesTenants: the self-lockout guard protects each
// tenant's own role, looked up with that tenant's key, and a cached answer never serves
// another tenant, not even one presenting the same key with a wrong secret.
func TestHTTP_MultiTenantRoleCacheNeverCrossesTenants(t *testing.T) {
	t.Parallel()
	env, rec := newRecordingEnv(t)
	a := mintHeaderTenant(t, env, "tenant-a", sandbox.AdminRoleID)
	b := mintHeaderTenant(t, env, "tenant-b", "")
	require.NotEqual(t, a.role, b.role)
	rec.reset()
	url, _ := env.startHTTPServer(t, nil, "--credentials-from-headers")
	sa := mustSDKDial(t, url, newClientTransport(t, a.headers(), nil).client(), "")
	sb := mustSDKDial(t, url, newClientTransport(t, b.headers(), nil).client(), sessionProtocol)

	deleteRole := func(s *srv, role string) *sdk.CallToolResult {
		return s.call(t, "delete-iam-role", map[string]any{"id": role, "dry-run": true})
	}
	const ownRole = "is the role of the key this server signs with"
	// Twice: the second round is served from the cache.
	for round := range 2 {
		res := deleteRole(sa, a.role)
		assert.True(t, res.IsError, "round %d: a's own role is protected", round)
		assert.Contains(t, text(res), ownRole)
		res = deleteRole(sb, a.role)
		assert.False(t, res.IsError, "round %d: a's role is not b's: %s", round, text(res))
		res = deleteRole(sb, b.role)
		assert.True(t, res.IsError, "round %d: b's own role is protected", round)
		assert.Contains(t, text(res), ownRole)
		res = deleteRole(sa, b.role)
		assert.False(t, res.IsError, "round %d: b's role is not a's: %s", round, text(res))
	}
	// One lookup per tenant, each signed with its own key.
	assert.Equal(t, []string{a.creds.Key}, rec.credentials(http.MethodGet, "/api-key/"+a.creds.Key))
	assert.Equal(t, []string{b.creds.Key}, rec.credentials(http.MethodGet, "/api-key/"+b.creds.Key))
	assert.Zero(t, env.sb.Requests(http.MethodDelete, "/iam-role/*"), "dry runs send nothing")

	t.Run("same key, wrong secret", func(t *testing.T) {
		// Whoever knows a's key but not its secret must not learn from a's cached role: the
		// guard looks the role up with the credential presented, and Exoscale refuses it.
		wrong := headerTenant{creds: apiclient.Credentials{Key: a.creds.Key, Secret: "not-a-secret-7d2e"}}
		sw := mustSDKDial(t, url, newClientTransport(t, wrong.headers(), nil).client(), "")
		res := deleteRole(sw, a.role)
		assert.True(t, res.IsError)
		assert.NotContains(t, text(res), ownRole, "the cached role of a's credential served another credential")
		assert.Contains(t, text(res), "could not look up")
		res = deleteRole(sw, b.role)
		assert.True(t, res.IsError, "no role is known for this credential, so no role delete goes through: %s", text(res))
		assert.Len(t, rec.credentials(http.MethodGet, "/api-key/"+a.creds.Key), 3, "the wrong credential's lookups went upstream")
	})
}

// TestHTTP_MultiTenantSessionsBelongToTheirTenant: another credential presenting a tenant's
// session id is answered as if the session did not exist, and cannot end it.
func TestHTTP_MultiTenantSessionsBelongToTheirTenant(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	a := mintHeaderTenant(t, env, "tenant-a", sandbox.AdminRoleID)
	b := mintHeaderTenant(t, env, "tenant-b", sandbox.AdminRoleID)
	url, _ := env.startHTTPServer(t, nil, "--credentials-from-headers")

	init := rawPost(t, url, a.headers(), rawInitializeBody(0))
	require.Equal(t, http.StatusOK, init.status, init.body)
	id := init.header.Get("Mcp-Session-Id")
	require.NotEmpty(t, id)
	with := func(tn headerTenant) map[string]string {
		h := tn.headers()
		h["Mcp-Session-Id"] = id
		h["Mcp-Protocol-Version"] = sessionProtocol
		return h
	}
	assert.Equal(t, http.StatusNotFound, rawPost(t, url, with(b), rawToolsCallBody(0)).status)
	assert.Equal(t, http.StatusNotFound, rawSend(t, http.MethodDelete, url, with(b), nil).status)
	wrongSecret := a
	wrongSecret.creds.Secret = b.creds.Secret
	assert.Equal(t, http.StatusNotFound, rawPost(t, url, with(wrongSecret), rawToolsCallBody(0)).status)
	// The owner's session still works.
	w := rawPost(t, url, with(a), rawToolsCallBody(0))
	assert.Equal(t, http.StatusOK, w.status, w.body)
}

// TestHTTP_AbandonedSessionsAreSwept: a session nobody ends is forgotten after the idle TTL,
// and its place under the session cap comes back.
func TestHTTP_AbandonedSessionsAreSwept(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil, "--session-idle-ttl", "300ms", "--max-sessions", "1")
	init := rawPost(t, url, nil, rawInitializeBody(0))
	require.Equal(t, http.StatusOK, init.status, init.body)
	id := init.header.Get("Mcp-Session-Id")
	require.NotEmpty(t, id)
	assert.Equal(t, http.StatusServiceUnavailable, rawPost(t, url, nil, rawInitializeBody(0)).status, "the cap of 1 is taken")

	// Probe with new initializes, which do not touch the idle session: one is let in once the
	// sweeper (every second at the least) has forgotten it.
	freed := false
	for i := 0; i < 100 && !freed; i++ {
		time.Sleep(100 * time.Millisecond)
		freed = rawPost(t, url, nil, rawInitializeBody(0)).status == http.StatusOK
	}
	require.True(t, freed, "the idle session was never swept")
	hdr := map[string]string{"Mcp-Session-Id": id, "Mcp-Protocol-Version": sessionProtocol}
	assert.Equal(t, http.StatusNotFound, rawPost(t, url, hdr, rawToolsCallBody(0)).status, "the swept session is gone")
}

// TestHTTP_MultiTenantEveryMethodNeedsCredentials: GET and DELETE too, not only POST.
func TestHTTP_MultiTenantEveryMethodNeedsCredentials(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	url, _ := env.startHTTPServer(t, nil, "--credentials-from-headers")
	for _, m := range []string{http.MethodGet, http.MethodDelete, http.MethodPost} {
		var body io.Reader
		if m == http.MethodPost {
			body = strings.NewReader(rawInitializeBody(0))
		}
		w := rawSend(t, m, url, map[string]string{"Mcp-Protocol-Version": sessionProtocol}, body)
		assert.Equal(t, http.StatusUnauthorized, w.status, m)
		assert.NotEmpty(t, w.header.Get("WWW-Authenticate"), m)
	}
	assert.Zero(t, env.sb.Requests("", ""), "nothing reached Exoscale")
}
