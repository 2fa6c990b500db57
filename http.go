package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
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
	fs.Float64Var(&f.limits.sessionRate, "session-rate", 100, "most requests per second per session (and, with --credentials-from-headers, per credential for clients without sessions)")
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
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither")
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
	var c common
	var f httpFlags
	c.register(fs, getenv)
	f.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	token, err := f.authToken(getenv)
	if err != nil {
		return err
	}
	if err := f.checkExposure(token); err != nil {
		return err
	}
	// Load the key pair now: a bad file refuses to start instead of failing after the backend
	// is up and the address announced.
	var tlsConfig *tls.Config
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("TLS: loading --tls-cert and --tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if f.credsFromHeaders && c.sandbox {
		return errors.New("--credentials-from-headers and --sandbox do not go together: the sandbox has its own credentials")
	}
	// Bind before the backend starts: a busy port is reported before the sandbox is announced.
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", f.listen, err)
	}
	b, err := c.newBackend(ctx, stderr, getenv, "http", !f.credsFromHeaders)
	if err != nil {
		ln.Close()
		return err
	}
	defer b.close()
	hs, shutdown := newHTTPServer(b, f, token)
	hs.TLSConfig = tlsConfig
	b.log.Info("serving streamable HTTP", "url", fmt.Sprintf("%s://%s/mcp", map[bool]string{true: "https", false: "http"}[tlsConfig != nil], ln.Addr()), "bearer-token", token != "", "credentials-from-headers", f.credsFromHeaders)

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case serveErr = <-errc: // serving failed: still stop mcp-go's session sweeper
	case <-ctx.Done():
		b.log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(serveErr, shutdown(sctx))
}

// newHTTPServer wires the MCP endpoint behind our middleware. shutdown stops it gracefully.
func newHTTPServer(b *backend, f httpFlags, token string) (*http.Server, func(context.Context) error) {
	g := &gate{
		limits:           f.limits,
		hasToken:         token != "",
		token:            sha256.Sum256([]byte(token)),
		allowedOrigins:   splitList(f.allowedOrigins),
		credsFromHeaders: f.credsFromHeaders,
		// Stateful, and ours to ask: a session ended by DELETE is gone (404 afterwards), for
		// every method; mcp-go itself would let a GET open a stream on any id.
		sessions:   &sessionIDs{},
		overall:    newBucket(f.limits.rate, f.limits.burst),
		buckets:    map[string]*bucket{},
		maxBuckets: max(2*f.limits.maxSessions, 1024),
		log:        b.log,
	}
	hooks := &server.Hooks{}
	hooks.AddOnRegisterSession(func(ctx context.Context, _ server.ClientSession) { g.sessionStarted(ctx) })
	hooks.AddOnUnregisterSession(func(context.Context, server.ClientSession) { g.sessionEnded() })
	mcpSrv := newMCPServer(b, server.WithHooks(hooks))

	opts := []server.StreamableHTTPOption{
		server.WithEndpointPath("/mcp"),
		server.WithSessionIdManager(g.sessions),
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
	// Graceful: stop accepting, let the calls in flight finish and answer, and only then end the
	// listening streams (GET), which never go idle by themselves. Ending them first would make
	// clients fail the calls still in flight.
	shutdown := func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() { done <- hs.Shutdown(ctx) }()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case err := <-done:
				if err != nil {
					hs.Close()
				}
				return errors.Join(err, streamable.Shutdown(ctx))
			case <-tick.C:
				if g.inflight.Load() == 0 {
					streamable.CloseSessions(ctx)
				}
			}
		}
	}
	return hs, shutdown
}

// gate is the middleware in front of mcp-go: everything mcp-go does not check itself.
type gate struct {
	limits           httpLimits
	hasToken         bool
	token            [32]byte // SHA-256 of the bearer token: compared in constant time, length included
	allowedOrigins   []string
	credsFromHeaders bool
	sessions         *sessionIDs
	overall          *bucket
	log              *slog.Logger
	inflight         atomic.Int64 // requests other than listening streams (GET), for shutdown

	// live counts registered sessions, pending the requests in flight that may register one:
	// together they never exceed limits.maxSessions, however many initialize at once.
	sessMu        sync.Mutex
	live, pending int

	mu         sync.Mutex
	buckets    map[string]*bucket // per session, or per credential without one (see rateKey)
	maxBuckets int
	lastSweep  time.Time
}

// queryCredentialNames may never carry credentials: query strings end up in proxy logs.
var queryCredentialNames = []string{"api_key", "api_secret", "key", "secret", "token"}

func (g *gate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			g.inflight.Add(1)
			defer g.inflight.Add(-1)
		}
		if queryHasCredentials(r.URL.RawQuery) {
			httpError(w, http.StatusBadRequest, "credentials are never accepted in the query string: send them in headers")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !g.originAllowed(origin) {
			httpError(w, http.StatusForbidden, "origin not allowed: start the server with --allowed-origins "+origin+" to allow it")
			return
		}
		if g.hasToken && !g.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="exoscale-keys-mcp"`)
			httpError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		if g.credsFromHeaders && (r.Header.Get("X-Exoscale-Api-Key") == "" || r.Header.Get("X-Exoscale-Api-Secret") == "") {
			w.Header().Set("WWW-Authenticate", `Exoscale-Api-Key realm="exoscale-keys-mcp"`)
			httpError(w, http.StatusUnauthorized, "this server signs with each caller's own key: send X-Exoscale-Api-Key and X-Exoscale-Api-Secret")
			return
		}
		session := r.Header.Get("Mcp-Session-Id")
		if session != "" {
			// In multi-tenant mode a session is its tenant's: another credential gets the same
			// answer as an unknown id.
			if terminated, err := g.sessions.Validate(session); err != nil || terminated ||
				(g.credsFromHeaders && !g.sessions.ownedBy(session, credentialTag(r))) {
				httpError(w, http.StatusNotFound, "no such session: it ended or never existed; start a new one (initialize)")
				return
			}
		}
		if ok, wait := g.allow(g.rateKey(r, session)); !ok {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(max(wait.Seconds(), 1))), 10))
			httpError(w, http.StatusTooManyRequests, "rate limit exceeded: slow down and retry after the time in Retry-After")
			return
		}
		var body []byte
		if r.Method == http.MethodPost {
			// Read the body here, bounded, so an oversized one is a 413 and not a parse error.
			if r.ContentLength > g.limits.maxBody {
				httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", g.limits.maxBody))
				return
			}
			var err error
			body, err = io.ReadAll(io.LimitReader(r.Body, g.limits.maxBody+1))
			if err != nil {
				httpError(w, http.StatusBadRequest, "reading the request body failed")
				return
			}
			if int64(len(body)) > g.limits.maxBody {
				httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", g.limits.maxBody))
				return
			}
			body = stampNotificationVersion(r.Header.Get("Mcp-Protocol-Version"), body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		if session == "" && startsSession(r.Method, body) {
			res, ok := g.reserveSession()
			if !ok {
				w.Header().Set("Retry-After", "5")
				httpError(w, http.StatusServiceUnavailable, "too many live sessions: end unused sessions (DELETE) or retry later")
				return
			}
			defer res.release()
			r = r.WithContext(context.WithValue(r.Context(), reservationKey{}, res))
			if g.credsFromHeaders {
				tag := credentialTag(r)
				w = &claimingWriter{ResponseWriter: w, claim: func(id string) { g.sessions.claim(id, tag) }}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// sessionIDs mints and checks MCP session ids. Unlike mcp-go's
// InsecureStatefulSessionIdManager it keeps no tombstone of ended sessions, a map that only
// grows: an id it does not hold, ended or never issued, is an error, which the gate answers
// with 404.
type sessionIDs struct{ live sync.Map }

var errUnknownSession = errors.New("unknown session")

// Generate issues a new random session id.
func (m *sessionIDs) Generate() string {
	id := "mcp-session-" + uuid.NewString()
	m.live.Store(id, "")
	return id
}

// claim records the credential that started a session (multi-tenant mode), once.
func (m *sessionIDs) claim(id, owner string) {
	m.live.CompareAndSwap(id, "", owner)
}

// ownedBy reports whether a live session belongs to owner.
func (m *sessionIDs) ownedBy(id, owner string) bool {
	v, ok := m.live.Load(id)
	return ok && v == owner
}

// Validate reports an error for an id that is not live.
func (m *sessionIDs) Validate(id string) (isTerminated bool, err error) {
	if _, ok := m.live.Load(id); !ok {
		return false, errUnknownSession
	}
	return false, nil
}

// Terminate forgets the id (DELETE, or the idle sweeper).
func (m *sessionIDs) Terminate(id string) (isNotAllowed bool, err error) {
	m.live.Delete(id)
	return false, nil
}

// stampNotificationVersion works around mcp-go v1.2.1, which answers 400 to a 2026-07-28
// notification (notifications/cancelled above all) whose params lack the protocol version in
// _meta: the spec asks that of requests only, and the official Go SDK sends none, then
// shuts its client down on the 400. The version is taken from the Mcp-Protocol-Version header
// the notification came with. Anything else passes unchanged.
func stampNotificationVersion(version string, body []byte) []byte {
	if version < mcp.ProtocolVersion20260728 || !bytes.Contains(body, []byte(`"notifications/`)) {
		return body
	}
	var msg map[string]json.RawMessage
	if json.Unmarshal(body, &msg) != nil || msg["id"] != nil || msg["method"] == nil {
		return body
	}
	var params map[string]json.RawMessage
	if p := msg["params"]; p != nil && json.Unmarshal(p, &params) != nil {
		return body
	}
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	meta := map[string]json.RawMessage{}
	if m := params["_meta"]; m != nil && json.Unmarshal(m, &meta) != nil {
		return body
	}
	if _, ok := meta[mcp.MetaKeyProtocolVersion]; ok {
		return body
	}
	meta[mcp.MetaKeyProtocolVersion], _ = json.Marshal(version)
	params["_meta"], _ = json.Marshal(meta)
	msg["params"], _ = json.Marshal(params)
	out, err := json.Marshal(msg)
	if err != nil {
		return body
	}
	return out
}

// queryHasCredentials reads every name in the raw query the way some server or proxy might:
// split at & or ;, unescaped when that works and as written when not, so a malformed pair
// cannot hide one.
func queryHasCredentials(raw string) bool {
	for _, pair := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(pair, "=")
		if u, err := url.QueryUnescape(name); err == nil {
			name = u
		}
		if slices.Contains(queryCredentialNames, strings.ToLower(strings.TrimSpace(name))) {
			return true
		}
	}
	return false
}

// startsSession: a legacy initialize (POST) or a GET without a session registers a new session
// in mcp-go; sessionless requests (protocol 2026-07-28) never do.
func startsSession(method string, body []byte) bool {
	if method == http.MethodGet {
		return true
	}
	var msg struct {
		Method string `json:"method"`
	}
	return method == http.MethodPost && json.Unmarshal(body, &msg) == nil && msg.Method == "initialize"
}

// reservationKey carries a request's *reservation to the session-registration hook.
type reservationKey struct{}

// reservation holds a place under the session cap for a request that may register a session.
// It is released when the session registers (the place becomes the live session's) or when the
// request ends without one.
type reservation struct {
	g    *gate
	done bool // under g.sessMu
}

func (g *gate) reserveSession() (*reservation, bool) {
	g.sessMu.Lock()
	defer g.sessMu.Unlock()
	if g.live+g.pending >= g.limits.maxSessions {
		return nil, false
	}
	g.pending++
	return &reservation{g: g}, true
}

func (r *reservation) release() {
	r.g.sessMu.Lock()
	defer r.g.sessMu.Unlock()
	r.releaseLocked()
}

func (r *reservation) releaseLocked() {
	if !r.done {
		r.done = true
		r.g.pending--
	}
}

func (g *gate) sessionStarted(ctx context.Context) {
	g.sessMu.Lock()
	defer g.sessMu.Unlock()
	g.live++
	if res, ok := ctx.Value(reservationKey{}).(*reservation); ok {
		res.releaseLocked()
	}
}

func (g *gate) sessionEnded() {
	g.sessMu.Lock()
	defer g.sessMu.Unlock()
	g.live--
}

func (g *gate) authorized(r *http.Request) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") { // RFC 7235: the scheme is case-insensitive
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1
}

// originAllowed: the MCP spec asks servers to validate Origin against DNS rebinding.
func (g *gate) originAllowed(origin string) bool {
	if slices.Contains(g.allowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && isLoopbackHost(u.Hostname())
}

// rateKey names the budget a request spends besides the overall one: its session's; without a
// session (initialize, and every request of protocol 2026-07-28, which has none), its
// credential's in multi-tenant mode, so one tenant cannot starve the others. Otherwise "": the
// overall limit only. Not the client address: many agents share one host or one proxy.
func (g *gate) rateKey(r *http.Request, session string) string {
	switch {
	case session != "":
		return "session " + session
	case g.credsFromHeaders:
		return "credential " + credentialTag(r)
	}
	return ""
}

// credentialTag names the caller's credential in multi-tenant mode: key and secret together,
// hashed, so a wrong secret for someone's key is someone else.
func credentialTag(r *http.Request) string {
	sum := sha256.Sum256([]byte(r.Header.Get("X-Exoscale-Api-Key") + "\x00" + r.Header.Get("X-Exoscale-Api-Secret")))
	return hex.EncodeToString(sum[:])
}

// claimingWriter records who owns the session an initialize response mints.
type claimingWriter struct {
	http.ResponseWriter
	claim   func(id string)
	claimed bool
}

func (c *claimingWriter) WriteHeader(status int) {
	if !c.claimed {
		c.claimed = true
		if id := c.Header().Get("Mcp-Session-Id"); id != "" {
			c.claim(id)
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *claimingWriter) Write(b []byte) (int, error) {
	if !c.claimed {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

// Flush keeps SSE streaming working through the wrapper.
func (c *claimingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *claimingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// allow spends one token from the overall bucket and from key's. When it cannot, it says how
// long until it could.
func (g *gate) allow(key string) (bool, time.Duration) {
	if ok, wait := g.overall.take(); !ok {
		return false, wait
	}
	if key == "" {
		return true, 0
	}
	g.mu.Lock()
	b, ok := g.buckets[key]
	if !ok {
		b = newBucket(g.limits.sessionRate, g.limits.sessionBurst)
		if len(g.buckets) >= g.maxBuckets && time.Since(g.lastSweep) > time.Second {
			// A full bucket is the same as a new one: forgetting it changes nothing. Budgets
			// in use are never reset.
			g.lastSweep = time.Now()
			for k, old := range g.buckets {
				if old.full() {
					delete(g.buckets, k)
				}
			}
		}
		// Still too many (a flood of new clients): this one goes without a bucket of its own,
		// still under the overall limit.
		if len(g.buckets) < g.maxBuckets {
			g.buckets[key] = b
		}
	}
	g.mu.Unlock()
	return b.take()
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// bucket is a token bucket: rate tokens a second, at most burst saved. A nil bucket (rate ≤ 0)
// has no limit.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	return &bucket{rate: rate, burst: float64(max(burst, 1)), tokens: float64(max(burst, 1)), last: time.Now()}
}

// refill brings the bucket to now. Callers hold b.mu.
func (b *bucket) refill() {
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// take spends a token, or says how long until one is saved.
func (b *bucket) take() (bool, time.Duration) {
	if b == nil {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

func (b *bucket) full() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	return b.tokens >= b.burst
}
