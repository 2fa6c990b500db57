package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
)

// httpFlags are the flags of the http command beyond the common ones.
type httpFlags struct {
	listen            string
	authTokenFile     string
	tlsCert, tlsKey   string
	allowInsecureHTTP bool
	allowedOrigins    string
	credsFromHeaders  bool
	limits            httpLimits
}

// httpLimits bound what one client can make the server do. The defaults never bite a normal
// agent.
type httpLimits struct {
	maxBody        int64
	maxSessions    int
	rate           float64 // calls per second, whole server
	burst          int
	sessionRate    float64 // calls per second, per session
	sessionBurst   int
	sessionIdleTTL time.Duration
	readHeader     time.Duration
}

func (f *httpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on; off loopback it needs a bearer token and TLS (or --allow-insecure-http)")
	fs.StringVar(&f.authTokenFile, "auth-token-file", "", "file holding the bearer token clients must send (or set EXOSCALE_MCP_AUTH_TOKEN)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file")
	fs.BoolVar(&f.allowInsecureHTTP, "allow-insecure-http", false, "serve plain HTTP off loopback (behind a TLS-terminating proxy)")
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated Origins allowed besides loopback ones (e.g. https://app.example.com)")
	fs.BoolVar(&f.credsFromHeaders, "credentials-from-headers", false, "multi-tenant: each request signs with the key in X-Exoscale-Api-Key and X-Exoscale-Api-Secret")
	fs.Int64Var(&f.limits.maxBody, "max-body", 1<<20, "largest request body in bytes (413 above)")
	fs.IntVar(&f.limits.maxSessions, "max-sessions", 1000, "most live MCP sessions")
	fs.Float64Var(&f.limits.rate, "rate", 5000, "most requests per second, whole server")
	fs.IntVar(&f.limits.burst, "burst", 10000, "burst above --rate")
	fs.Float64Var(&f.limits.sessionRate, "session-rate", 100, "most requests per second per session")
	fs.IntVar(&f.limits.sessionBurst, "session-burst", 200, "burst above --session-rate")
	fs.DurationVar(&f.limits.sessionIdleTTL, "session-idle-ttl", 30*time.Minute, "forget sessions idle this long")
	fs.DurationVar(&f.limits.readHeader, "read-header-timeout", 10*time.Second, "time allowed to read request headers")
}

// authToken reads the bearer token: from EXOSCALE_MCP_AUTH_TOKEN or --auth-token-file, never a
// flag value (it would show in ps).
func (f *httpFlags) authToken(getenv func(string) string) (string, error) {
	if f.authTokenFile != "" {
		b, err := os.ReadFile(f.authTokenFile)
		if err != nil {
			return "", fmt.Errorf("--auth-token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("--auth-token-file %s is empty", f.authTokenFile)
		}
		return tok, nil
	}
	return strings.TrimSpace(getenv("EXOSCALE_MCP_AUTH_TOKEN")), nil
}

// checkExposure refuses to serve off loopback without a token and without TLS (or an explicit
// waiver): an open MCP endpoint here holds the keys to an organization.
func (f *httpFlags) checkExposure(token string) error {
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", f.listen, err)
	}
	if isLoopbackHost(host) {
		return nil
	}
	var missing []string
	if token == "" {
		missing = append(missing, "a bearer token (EXOSCALE_MCP_AUTH_TOKEN or --auth-token-file)")
	}
	if (f.tlsCert == "" || f.tlsKey == "") && !f.allowInsecureHTTP {
		missing = append(missing, "TLS (--tls-cert and --tls-key, or --allow-insecure-http behind a TLS-terminating proxy)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("refusing to listen on %s, which is not loopback, without %s", f.listen, strings.Join(missing, " and "))
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runHTTP(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	var f httpFlags
	c.register(fs, getenv)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	token, err := f.authToken(getenv)
	if err != nil {
		return err
	}
	if err := f.checkExposure(token); err != nil {
		return err
	}
	if f.credsFromHeaders && c.sandbox {
		return errors.New("--credentials-from-headers and --sandbox do not go together: the sandbox has its own credentials")
	}
	b, err := c.newBackend(ctx, stderr, getenv, "http", !f.credsFromHeaders)
	if err != nil {
		return err
	}
	defer b.close()

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	hs, shutdown := newHTTPServer(b, f, token)
	tls := f.tlsCert != "" && f.tlsKey != ""
	b.log.Info("serving streamable HTTP", "url", fmt.Sprintf("%s://%s/mcp", map[bool]string{true: "https", false: "http"}[tls], ln.Addr()), "bearer-token", token != "", "credentials-from-headers", f.credsFromHeaders)

	errc := make(chan error, 1)
	go func() {
		if tls {
			errc <- hs.ServeTLS(ln, f.tlsCert, f.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	b.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return shutdown(sctx)
}

// newHTTPServer wires the MCP endpoint behind our middleware. shutdown stops it gracefully.
func newHTTPServer(b *backend, f httpFlags, token string) (*http.Server, func(context.Context) error) {
	var live atomic.Int64
	hooks := &server.Hooks{}
	hooks.AddOnRegisterSession(func(context.Context, server.ClientSession) { live.Add(1) })
	hooks.AddOnUnregisterSession(func(context.Context, server.ClientSession) { live.Add(-1) })
	mcpSrv := newMCPServer(b, server.WithHooks(hooks))

	opts := []server.StreamableHTTPOption{
		server.WithEndpointPath("/mcp"),
		// Stateful: a session ended by DELETE is gone (404 afterwards).
		server.WithStateful(true),
		server.WithSessionIdleTTL(f.limits.sessionIdleTTL),
		server.WithStreamableHTTPLogger(b.log),
	}
	if f.credsFromHeaders {
		opts = append(opts, server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			return apiclient.WithCredentials(ctx, apiclient.Credentials{
				Key: r.Header.Get("X-Exoscale-Api-Key"), Secret: r.Header.Get("X-Exoscale-Api-Secret"),
			})
		}))
	}
	streamable := server.NewStreamableHTTPServer(mcpSrv, opts...)

	g := &gate{
		limits:           f.limits,
		token:            []byte(token),
		allowedOrigins:   splitList(f.allowedOrigins),
		credsFromHeaders: f.credsFromHeaders,
		live:             &live,
		overall:          newBucket(f.limits.rate, f.limits.burst),
		sessions:         map[string]*bucket{},
		log:              b.log,
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", g.wrap(streamable))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: f.limits.readHeader,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelDebug),
	}
	shutdown := func(ctx context.Context) error {
		err := streamable.Shutdown(ctx)
		return errors.Join(err, hs.Shutdown(ctx))
	}
	return hs, shutdown
}

// gate is the middleware in front of mcp-go: everything mcp-go does not check itself.
type gate struct {
	limits           httpLimits
	token            []byte
	allowedOrigins   []string
	credsFromHeaders bool
	live             *atomic.Int64
	overall          *bucket
	log              *slog.Logger

	mu       sync.Mutex
	sessions map[string]*bucket
}

// queryCredentialNames may never carry credentials: query strings end up in proxy logs.
var queryCredentialNames = []string{"api_key", "api_secret", "key", "secret", "token"}

func (g *gate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name := range r.URL.Query() {
			if slices.Contains(queryCredentialNames, strings.ToLower(name)) {
				httpError(w, http.StatusBadRequest, "credentials are never accepted in the query string: send them in headers")
				return
			}
		}
		if origin := r.Header.Get("Origin"); origin != "" && !g.originAllowed(origin) {
			httpError(w, http.StatusForbidden, "origin not allowed: start the server with --allowed-origins "+origin+" to allow it")
			return
		}
		if len(g.token) > 0 && !g.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="exoscale-keys-mcp"`)
			httpError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		if g.credsFromHeaders && r.Method == http.MethodPost &&
			(r.Header.Get("X-Exoscale-Api-Key") == "" || r.Header.Get("X-Exoscale-Api-Secret") == "") {
			w.Header().Set("WWW-Authenticate", `Exoscale-Api-Key realm="exoscale-keys-mcp"`)
			httpError(w, http.StatusUnauthorized, "this server signs with each caller's own key: send X-Exoscale-Api-Key and X-Exoscale-Api-Secret")
			return
		}
		if !g.allow(r.Header.Get("Mcp-Session-Id")) {
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusTooManyRequests, "rate limit exceeded: slow down and retry after a second")
			return
		}
		if r.Method == http.MethodPost {
			if r.Header.Get("Mcp-Session-Id") == "" && g.live.Load() >= int64(g.limits.maxSessions) {
				w.Header().Set("Retry-After", "5")
				httpError(w, http.StatusServiceUnavailable, "too many live sessions: end unused sessions (DELETE) or retry later")
				return
			}
			// Read the body here, bounded, so an oversized one is a 413 and not a parse error.
			if r.ContentLength > g.limits.maxBody {
				httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", g.limits.maxBody))
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, g.limits.maxBody+1))
			if err != nil {
				httpError(w, http.StatusBadRequest, "reading the request body failed")
				return
			}
			if int64(len(body)) > g.limits.maxBody {
				httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", g.limits.maxBody))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

func (g *gate) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), g.token) == 1
}

// originAllowed: the MCP spec asks servers to validate Origin against DNS rebinding.
func (g *gate) originAllowed(origin string) bool {
	if slices.Contains(g.allowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && isLoopbackHost(u.Hostname())
}

// allow spends one token from the overall and the session's bucket.
func (g *gate) allow(session string) bool {
	if !g.overall.take() {
		return false
	}
	if session == "" {
		return true
	}
	g.mu.Lock()
	b, ok := g.sessions[session]
	if !ok {
		if len(g.sessions) > 4*g.limits.maxSessions { // forget idle buckets of ended sessions
			clear(g.sessions)
		}
		b = newBucket(g.limits.sessionRate, g.limits.sessionBurst)
		g.sessions[session] = b
	}
	g.mu.Unlock()
	return b.take()
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// bucket is a token bucket: rate tokens a second, at most burst saved.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		rate = math.Inf(1)
	}
	return &bucket{rate: rate, burst: float64(max(burst, 1)), tokens: float64(max(burst, 1)), last: time.Now()}
}

func (b *bucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
