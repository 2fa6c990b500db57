package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/loopback"
)

// Zones are the 8 known Exoscale zones, sorted.
var Zones = []string{"at-vie-1", "at-vie-2", "bg-sof-1", "ch-dk-2", "ch-gva-2", "de-fra-1", "de-muc-1", "hr-zag-1"}

// DefaultZone is the zone used when none is configured; IAM is organization-wide and every
// official client calls this zone for it.
const DefaultZone = "ch-gva-2"

// Defaults of Config.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultUserAgent    = "exoscale-keys-mcp/dev"
	DefaultMaxRetries   = 3
	DefaultRetryBase    = time.Second
	DefaultRetryMax     = 30 * time.Second
	DefaultMaxBodyBytes = 10 << 20 // 10 MiB: no answer of the key APIs comes anywhere near
)

// maxErrorBodyBytes bounds what is read of a non-2xx body: it only feeds an error message.
const maxErrorBodyBytes = 64 << 10

// PollConfig is the cadence of Wait. Zero fields take their defaults.
type PollConfig struct {
	First        time.Duration // first poll after this (default 500ms)
	Interval     time.Duration // then every Interval (default 3s)...
	SlowAfter    time.Duration // ...until SlowAfter has elapsed (default 30s)
	SlowInterval time.Duration // then SlowInterval, growing (x1.5 each) up to Max (default 10s)
	Max          time.Duration // cap (default 60s)
	MaxErrors    int           // consecutive polling errors before giving up (default 5)
}

// Config configures a Client. Only Endpoint is required.
type Config struct {
	Endpoint    string        // full base URL incl. /v2, e.g. https://api-ch-gva-2.exoscale.com/v2 (required)
	Credentials Credentials   // default credentials (may be empty when every ctx carries its own)
	Timeout     time.Duration // bounds one call, retries and backoff included (default 30s); Wait bounds each poll with it
	UserAgent   string        // default "exoscale-keys-mcp/dev"
	MaxRetries  int           // for GET/PUT only (default 3; negative = none)
	RetryBase   time.Duration // backoff base (default 1s)
	RetryMax    time.Duration // backoff cap (default 30s); a longer Retry-After is returned, not waited for
	Poll        PollConfig
	HTTPClient  *http.Client     // optional; default: tuned transport (keep-alive, idle pool). Redirects are never followed.
	Logger      *slog.Logger     // optional; debug logs, never secrets
	Now         func() time.Time // optional, for signing expiry in tests

	// Backoff, when set, replaces the default wait before retry number attempt+1 (attempt
	// counts from 0): capped exponential from RetryBase with jitter, never shorter than the
	// server's Retry-After (retryAfter, 0 when none). Tests set it to return 0 so that a retry
	// matrix does not wait out real seconds. A Retry-After above RetryMax still ends the call
	// without waiting, whatever Backoff says.
	Backoff func(attempt int, retryAfter time.Duration) time.Duration

	// MaxBodyBytes caps a 2xx response body (default 10 MiB): a larger one is an error, not an
	// out-of-memory crash.
	MaxBodyBytes int64

	// Observer, when set, hears of every request sent and every retry (for metrics).
	Observer Observer
}

// Observer hears what the client sends, by operation name and status only: never a path, an
// argument or a credential. Its methods must be quick and safe for concurrent use.
type Observer interface {
	// Request reports one attempt: its HTTP status (0 when no response came) and duration.
	Request(operation string, status int, took time.Duration)
	// Retry reports that a request is about to be sent again, and why (RetryRateLimited,
	// RetryServerError or RetryNetwork).
	Retry(operation, reason string)
}

// Why a request is retried, as Observer.Retry reports it.
const (
	RetryRateLimited = "rate_limited" // 429
	RetryServerError = "server_error" // 502, 503, 504
	RetryNetwork     = "network"      // no answer: connection failed or reset
)

type noObserver struct{}

func (noObserver) Request(string, int, time.Duration) {}
func (noObserver) Retry(string, string)               {}

// Client calls the Exoscale API v2. It is safe for concurrent use: one Client serves every
// session of the server.
type Client struct {
	base       *url.URL
	basePath   string // escaped path of the endpoint, without trailing slash ("/v2")
	creds      Credentials
	timeout    time.Duration
	userAgent  string
	maxRetries int
	retryBase  time.Duration
	retryMax   time.Duration
	poll       PollConfig
	maxBody    int64
	http       *http.Client
	log        *slog.Logger
	now        func() time.Time
	backoffFn  func(attempt int, retryAfter time.Duration) time.Duration
	observer   Observer
}

// New validates cfg and returns a Client. The endpoint must be https, or http on a loopback
// host (the sandbox); it must not carry user info, a query or a fragment.
func New(cfg Config) (*Client, error) {
	base, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if !cfg.Credentials.IsZero() && !cfg.Credentials.complete() {
		return nil, errors.New("apiclient: credentials need both a key and a secret")
	}
	c := &Client{
		base:       base,
		basePath:   strings.TrimRight(base.EscapedPath(), "/"),
		creds:      cfg.Credentials,
		timeout:    orDefault(cfg.Timeout, DefaultTimeout),
		userAgent:  cfg.UserAgent,
		maxRetries: cfg.MaxRetries,
		retryBase:  orDefault(cfg.RetryBase, DefaultRetryBase),
		retryMax:   orDefault(cfg.RetryMax, DefaultRetryMax),
		poll:       cfg.Poll.withDefaults(),
		maxBody:    cfg.MaxBodyBytes,
		log:        cfg.Logger,
		now:        cfg.Now,
		backoffFn:  cfg.Backoff,
		observer:   cfg.Observer,
	}
	if c.observer == nil {
		c.observer = noObserver{}
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.http = &hc
	} else {
		c.http = &http.Client{Transport: newTransport()}
	}
	// A redirect would make net/http resend a POST body on its own: never follow one, a 3xx
	// becomes an *Error like any other non-2xx.
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// newTransport is tuned for one long-lived client calling one or two hosts from many
// sessions: keep-alive with a sensible idle pool, bounded dial and TLS handshakes.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	// Every session's calls go to one host: keep as many idle connections as there are
	// concurrent calls, or each call past the pool dials anew (measured with 100 HTTP
	// sessions: 16 idle per host left dialing at 9% of CPU and tens of thousands of
	// TIME_WAIT sockets; see BENCHMARKS.md).
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.ForceAttemptHTTP2 = true
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return t
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Endpoint returns the base URL, e.g. "https://api-ch-gva-2.exoscale.com/v2".
// Without a trailing slash, whatever the configured endpoint ended with.
func (c *Client) Endpoint() string { return c.base.Scheme + "://" + c.base.Host + c.basePath }

// Credentials returns the client's default credentials.
func (c *Client) Credentials() Credentials { return c.creds }

// Request is one API call.
type Request struct {
	Operation string     // operationId, used in errors ("get-api-key")
	Method    string     // GET, POST, PUT, PATCH, DELETE
	Path      string     // path below /v2 as it goes on the wire, segments already escaped with url.PathEscape, e.g. "/iam-role/<uuid>:policy"
	Query     url.Values // empty values are dropped, never sent; one value per name
	Body      []byte     // exact bytes sent and signed; nil = no body (Content-Type json when set)
	Unsigned  bool       // list-zones
}

// Response is a 2xx answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// name is how a request is named in errors and logs.
func (r Request) name() string {
	if r.Operation != "" {
		return r.Operation
	}
	return strings.ToUpper(r.Method) + " " + r.Path
}

// idempotent reports whether the request may be sent more than once: GET reads, PUT replaces
// a whole object. POST, PATCH and DELETE never are (a create could run twice).
func (r Request) idempotent() bool {
	m := strings.ToUpper(r.Method)
	return m == http.MethodGet || m == http.MethodPut
}

// BuildHTTPRequest builds the signed *http.Request Do would send (used for dry-run display).
// The request carries the Authorization header: show its method, URL and body, never its
// headers.
// The request is signed with the credentials of ctx (WithCredentials) or else the client's;
// credentials carried by ctx are never replaced by the client's, even when incomplete.
func (c *Client) BuildHTTPRequest(ctx context.Context, req Request) (*http.Request, error) {
	method := strings.ToUpper(req.Method)
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, fmt.Errorf("%s: unsupported method %q", req.name(), oneLine(req.Method, 16))
	}
	u, err := c.buildURL(req.Path, req.Query)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.name(), err)
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s: building request: %w", req.name(), err)
	}
	hreq.URL = u // keep RawPath exactly as given: it is what is signed
	hreq.Header.Set("User-Agent", c.userAgent)
	hreq.Header.Set("Accept", "application/json")
	if req.Body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if !req.Unsigned {
		creds, fromCtx := CredentialsFrom(ctx)
		if !fromCtx {
			creds = c.creds
		}
		if !creds.complete() {
			return nil, fmt.Errorf("%s: no API credentials to sign the request with: set EXOSCALE_API_KEY and EXOSCALE_API_SECRET or configure exoscale.toml", req.name())
		}
		hreq.Header.Set("Authorization", Authorization(method, u, req.Body, creds, c.now().Add(signatureTTL)))
	}
	return hreq, nil
}

// buildURL joins the endpoint and an already-escaped path, and encodes the query with empty
// parameters dropped.
func (c *Client) buildURL(path string, query url.Values) (*url.URL, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q must start with /", oneLine(path, 200))
	}
	for i := 0; i < len(path); i++ {
		if !pathByteOK(path[i]) {
			return nil, fmt.Errorf("path %q is not escaped (byte %q at %d): escape each segment with url.PathEscape", oneLine(path, 200), path[i], i)
		}
	}
	for _, seg := range strings.Split(path, "/") {
		un, err := url.PathUnescape(seg)
		if err != nil {
			return nil, fmt.Errorf("path %q has an invalid escape", oneLine(path, 200))
		}
		// A "." or ".." segment (even escaped) would be resolved by a server or proxy into
		// another resource than the one asked for.
		if un == "." || un == ".." {
			return nil, fmt.Errorf("path %q has a dot segment", oneLine(path, 200))
		}
	}
	raw := c.basePath + path
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("path %q has an invalid escape", oneLine(path, 200))
	}
	u := &url.URL{Scheme: c.base.Scheme, Host: c.base.Host, Path: decoded, RawPath: raw}
	if decoded == raw {
		u.RawPath = ""
	}

	if len(query) > 0 {
		q := url.Values{}
		names := make([]string, 0, len(query))
		for name := range query {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			var vals []string
			for _, v := range query[name] {
				if v != "" {
					vals = append(vals, v)
				}
			}
			if name == "" || len(vals) == 0 {
				continue // never send an empty parameter: the official signers disagree on it
			}
			if len(vals) > 1 {
				return nil, fmt.Errorf("query parameter %q has %d values; only one is allowed", oneLine(name, 64), len(vals))
			}
			q.Set(name, vals[0])
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// pathByteOK reports whether b may appear in an escaped path (RFC 3986 pchar or "/").
func pathByteOK(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/%", b) >= 0
}

// Do sends req (with retries for GET/PUT only) and returns the 2xx response, or *Error for a
// non-2xx answer, or a transport error wrapped with the operation name (never containing
// secrets).
//
// Retries: a GET or PUT that got 429, 502, 503, 504 or a connection error is sent again up to
// MaxRetries times, after a capped exponential backoff with jitter that never undercuts the
// server's Retry-After. Every wait stays within ctx: when ctx would expire first, or the server
// asks for more than RetryMax, the last error is returned at once. POST, PATCH and DELETE are
// sent exactly once: a create that timed out may have happened, and a second one mints a
// second key.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	// The timeout bounds the whole call, retries and backoff included: a tool call must end
	// within it, not after four slow attempts.
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	name := req.name()
	retries := 0
	if req.idempotent() {
		retries = c.maxRetries
	}
	for attempt := 0; ; attempt++ {
		res := c.attempt(ctx, req)
		if res.resp != nil {
			return res.resp, nil
		}
		if res.permanent {
			return nil, res.err
		}
		if ctx.Err() != nil {
			return nil, c.ctxError(req, res, ctx.Err())
		}

		var apiErr *Error
		var wait time.Duration
		if errors.As(res.err, &apiErr) {
			if !req.idempotent() || !retryableStatus(apiErr.Status) || attempt >= retries {
				return nil, res.err
			}
			if apiErr.RetryAfter > c.retryMax {
				// Waiting minutes inside one tool call helps nobody: hand the error (which says
				// how long to wait) back to the caller.
				return nil, res.err
			}
			wait = c.wait(attempt, apiErr.RetryAfter)
		} else {
			if !req.idempotent() {
				return nil, c.notResentError(req, res)
			}
			if attempt >= retries {
				return nil, redactError(fmt.Errorf("%s: giving up after %d attempts: %w", name, attempt+1, res.err), res.secrets...)
			}
			wait = c.wait(attempt, 0)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return nil, c.finalError(req, res, attempt)
		}
		c.log.DebugContext(ctx, "exoscale api retry", "operation", name, "attempt", attempt+1, "wait", wait, "error", res.err)
		c.observer.Retry(name, retryReason(res.err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, c.ctxError(req, res, ctx.Err())
		case <-t.C:
		}
	}
}

// retryReason names why a failed attempt is retried, for Observer.Retry.
func retryReason(err error) string {
	var apiErr *Error
	switch {
	case !errors.As(err, &apiErr):
		return RetryNetwork
	case apiErr.Status == http.StatusTooManyRequests:
		return RetryRateLimited
	}
	return RetryServerError
}

// finalError is the error returned when no further attempt will be made.
func (c *Client) finalError(req Request, res attemptResult, attempt int) error {
	var apiErr *Error
	if errors.As(res.err, &apiErr) {
		return res.err
	}
	return redactError(fmt.Errorf("%s: giving up after %d attempts: %w", req.name(), attempt+1, res.err), res.secrets...)
}

// ctxError reports the caller's cancellation, saying for a non-idempotent request whether it
// may have reached the server.
func (c *Client) ctxError(req Request, res attemptResult, ctxErr error) error {
	if !req.idempotent() && res.wrote {
		return fmt.Errorf("%s: %s %s was sent and may have been applied; it is not resent: %w", req.name(), strings.ToUpper(req.Method), oneLine(req.Path, 200), ctxErr)
	}
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return redactError(fmt.Errorf("%s: no complete answer within the call's time limit (last attempt: %v): %w", req.name(), res.err, ctxErr), res.secrets...)
	}
	return fmt.Errorf("%s: %w", req.name(), ctxErr)
}

// notResentError reports a transport failure of a POST, PATCH or DELETE.
func (c *Client) notResentError(req Request, res attemptResult) error {
	var err error
	if res.wrote {
		err = fmt.Errorf("%s: %s %s was sent but no answer came back, so it may have been applied; it is not resent automatically (check the current state before repeating it): %w",
			req.name(), strings.ToUpper(req.Method), oneLine(req.Path, 200), res.err)
	} else {
		err = fmt.Errorf("%s: %s %s could not be sent (nothing reached the server): %w",
			req.name(), strings.ToUpper(req.Method), oneLine(req.Path, 200), res.err)
	}
	return redactError(err, res.secrets...)
}

// wait is the pause before retry number attempt+1: Config.Backoff when set, else backoff.
func (c *Client) wait(attempt int, retryAfter time.Duration) time.Duration {
	if c.backoffFn != nil {
		return max(c.backoffFn(attempt, retryAfter), 0)
	}
	return c.backoff(attempt, retryAfter)
}

// backoff returns the default wait before retry number attempt+1: exponential from RetryBase, capped at
// RetryMax, with equal jitter (half fixed, half random) so that many sessions hitting the same
// rate limit spread out; never shorter than the server's Retry-After.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := c.retryMax
	if attempt < 30 {
		if e := c.retryBase << attempt; e > 0 && e < c.retryMax {
			d = e
		}
	}
	half := d / 2
	d = half + rand.N(d-half+1)
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// attemptResult is the outcome of sending a request once.
type attemptResult struct {
	resp      *Response
	err       error    // *Error for a non-2xx answer, else a transport error
	permanent bool     // err must not be retried whatever the method (bad request, oversized body)
	wrote     bool     // a connection was obtained, so the server may have received the request
	secrets   []string // values to scrub from errors: secret, Authorization header, signature
}

// attempt sends req once, within the per-attempt timeout.
func (c *Client) attempt(ctx context.Context, req Request) attemptResult {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var res attemptResult
	hreq, err := c.BuildHTTPRequest(actx, req)
	if err != nil {
		res.err, res.permanent = err, true
		return res
	}
	res.secrets = c.secretsOf(ctx, hreq)

	// Once a connection is obtained, bytes may reach the server: from then on a failure of a
	// non-idempotent request is reported as "may have been applied". Before it, nothing was sent.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { wrote.Store(true) }}
	hreq = hreq.WithContext(httptrace.WithClientTrace(actx, trace))

	start := time.Now()
	hresp, err := c.http.Do(hreq)
	res.wrote = wrote.Load()
	status := 0
	if err == nil {
		status = hresp.StatusCode
	}
	defer func() { c.observer.Request(req.name(), status, time.Since(start)) }()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no complete answer within %s: %w", c.timeout, err)
		}
		if certificateError(err) {
			// The server is not who the endpoint says, or a proxy intercepts: asking again
			// gets the same certificate. Nothing was sent over the failed handshake.
			err = fmt.Errorf("%s: TLS certificate verification failed for %s, so nothing was sent; not retried (check the endpoint, EXOSCALE_API_ENDPOINT, and any proxy intercepting TLS): %w", req.name(), hreq.URL.Host, err)
			res.permanent = true
		}
		c.log.DebugContext(ctx, "exoscale api call failed", "operation", req.name(), "method", hreq.Method, "path", req.Path, "duration", time.Since(start), "error", redactError(err, res.secrets...))
		res.err = redactError(err, res.secrets...)
		return res
	}
	defer hresp.Body.Close()
	res.wrote = true

	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(hresp.Body, maxErrorBodyBytes))
		apiErr := ParseError(req.name(), hresp.StatusCode, hresp.Header, body)
		redactAPIError(apiErr, res.secrets)
		c.log.DebugContext(ctx, "exoscale api call", "operation", req.name(), "method", hreq.Method, "path", req.Path, "status", hresp.StatusCode, "duration", time.Since(start), "error", apiErr.Error())
		res.err = apiErr
		return res
	}

	body, err := io.ReadAll(io.LimitReader(hresp.Body, c.maxBody+1))
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no complete answer within %s: %w", c.timeout, err)
		}
		res.err = redactError(fmt.Errorf("reading %d response: %w", hresp.StatusCode, err), res.secrets...)
		return res
	}
	if int64(len(body)) > c.maxBody {
		res.err = fmt.Errorf("%s: response body exceeds %d bytes", req.name(), c.maxBody)
		res.permanent = true
		return res
	}
	c.log.DebugContext(ctx, "exoscale api call", "operation", req.name(), "method", hreq.Method, "path", req.Path, "status", hresp.StatusCode, "bytes", len(body), "duration", time.Since(start))
	res.resp = &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: body}
	return res
}

// certificateError reports whether err is a failure to verify the server's certificate (unknown
// authority, wrong host, expired), which no retry can fix.
func certificateError(err error) bool {
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// secretsOf lists what must never be echoed back from this request: the API secret used and
// the Authorization header with its signature.
func (c *Client) secretsOf(ctx context.Context, hreq *http.Request) []string {
	var out []string
	creds, ok := CredentialsFrom(ctx)
	if !ok {
		creds = c.creds
	}
	if creds.Secret != "" {
		out = append(out, creds.Secret)
	}
	if auth := hreq.Header.Get("Authorization"); auth != "" {
		out = append(out, auth)
		if i := strings.LastIndex(auth, "signature="); i >= 0 {
			out = append(out, auth[i+len("signature="):])
		}
	}
	return out
}

// redactAPIError scrubs secrets a server might echo back (a misbehaving proxy quoting the
// request, say) from every text field of e.
func redactAPIError(e *Error, secrets []string) {
	for _, p := range []*string{&e.Type, &e.Title, &e.Detail, &e.Message, &e.Code} {
		*p = redact(*p, secrets)
	}
	for i := range e.Fields {
		e.Fields[i].Path = redact(e.Fields[i].Path, secrets)
		e.Fields[i].Detail = redact(e.Fields[i].Detail, secrets)
	}
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// redactedError keeps the chain of err (errors.Is/As still work) while its text has the
// secrets scrubbed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := redact(msg, secrets); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

// parseEndpoint validates a base URL: https, or http only on a loopback host.
func parseEndpoint(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("apiclient: endpoint is required, e.g. https://api-ch-gva-2.exoscale.com/v2")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parse error quotes the URL, which could carry a password: do not show it.
		return nil, errors.New("apiclient: endpoint is not a valid URL (expected e.g. https://api-ch-gva-2.exoscale.com/v2)")
	}
	if u.User != nil {
		return nil, errors.New("apiclient: endpoint must not contain user info (credentials are sent signed, never in the URL)")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("apiclient: endpoint %q has no host (expected e.g. https://api-ch-gva-2.exoscale.com/v2)", u.Redacted())
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("apiclient: endpoint %q must not have a query or fragment", u.Redacted())
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !loopback.IsHost(u.Hostname()) {
			return nil, fmt.Errorf("apiclient: endpoint %q uses http on a non-loopback host; use https (http is only allowed for 127.0.0.1, ::1 or localhost)", u.Redacted())
		}
	default:
		return nil, fmt.Errorf("apiclient: endpoint %q must use https", u.Redacted())
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u, nil
}

func validateZone(zone string) error {
	if slices.Contains(Zones, zone) {
		return nil
	}
	return fmt.Errorf("unknown zone %q: known zones are %s", oneLine(zone, 64), strings.Join(Zones, ", "))
}
