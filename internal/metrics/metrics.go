// Package metrics counts what the server does, for Prometheus: tool calls, upstream requests,
// retries, rate-limit refusals, sessions and calls in flight.
//
// Every label value comes from a fixed set known at start-up (tool names from the catalog,
// outcome words, status classes, limit scopes). A value outside its set is counted as "other":
// nothing a caller sends (an argument, a key id, a session id, a secret) can become a label, so
// it can neither leak through /metrics nor grow the number of series without bound.
package metrics

import (
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exokeys/exoscale-keys-mcp/internal/buildinfo"
)

// Namespace starts every metric name.
const Namespace = "exoscale_keys_mcp"

// Other is the label value of anything outside a label's known set.
const Other = "other"

// Outcome is how a tool call ended.
type Outcome string

// The outcomes of a tool call.
const (
	OutcomeOK            Outcome = "ok"             // done (or its operation started)
	OutcomeDryRun        Outcome = "dry_run"        // checked and described, nothing sent
	OutcomeInvalid       Outcome = "invalid"        // refused by validation, nothing sent
	OutcomeRefused       Outcome = "refused"        // refused by a guard, nothing sent
	OutcomeDeclined      Outcome = "declined"       // the human declined the confirmation
	OutcomeNeedsInput    Outcome = "needs_input"    // waits for the human's confirmation
	OutcomeRateLimited   Outcome = "rate_limited"   // refused by a rate limit
	OutcomeUpstreamError Outcome = "upstream_error" // Exoscale answered with an error
	OutcomeUnavailable   Outcome = "unavailable"    // replicas could not coordinate (Redis down)
	OutcomeTimeout       Outcome = "timeout"        // the call or its wait timed out
	OutcomeCanceled      Outcome = "canceled"       // the client went away
	OutcomeInternal      Outcome = "internal_error" // a bug
)

var outcomes = set(OutcomeOK, OutcomeDryRun, OutcomeInvalid, OutcomeRefused, OutcomeDeclined, OutcomeNeedsInput,
	OutcomeRateLimited, OutcomeUpstreamError, OutcomeUnavailable, OutcomeTimeout, OutcomeCanceled,
	OutcomeInternal)

// Limit scopes, the label of rate-limit refusals.
const (
	ScopeOverall    = "overall"
	ScopeSession    = "session"
	ScopeCredential = "credential"
	ScopeAddress    = "address"
)

var scopes = set(ScopeOverall, ScopeSession, ScopeCredential, ScopeAddress)

// Retry reasons.
const (
	RetryRateLimited = "rate_limited" // 429
	RetryServerError = "server_error" // 5xx
	RetryNetwork     = "network"      // connection failed or reset
)

var retryReasons = set(RetryRateLimited, RetryServerError, RetryNetwork)

// Options describe what the Registry may see.
type Options struct {
	// Tools are the names the server exposes (operations and composite tools): the only values
	// of the tool and operation labels.
	Tools []string
	// Version and Revision label build_info (default: from the binary's build information).
	Version, Revision string
	// CoordinationUp, when set, is reported as the coordination_up gauge (1 when the replicas
	// reach Redis).
	CoordinationUp func() bool
}

// Registry holds the server's metrics. Its methods are safe for concurrent use; a nil *Registry
// records nothing, so call sites need no checks when metrics are off.
type Registry struct {
	reg   *prometheus.Registry
	tools map[string]struct{}

	toolCalls   *prometheus.CounterVec
	upstream    *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	sessions    prometheus.Gauge
	inFlight    prometheus.Gauge
}

// New makes a registry with the server's metrics, Go runtime and process metrics, and build
// information.
func New(opts Options) *Registry {
	r := &Registry{
		reg:   prometheus.NewRegistry(),
		tools: set(opts.Tools...),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tool_calls_total",
			Help: "Tool calls by tool and outcome.",
		}, []string{"tool", "outcome"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "upstream_request_duration_seconds",
			Help:    "Exoscale API requests by operation and status class (2xx, 4xx, 5xx, error), in seconds.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation", "status_class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "upstream_retries_total",
			Help: "Exoscale API requests retried, by operation and reason.",
		}, []string{"operation", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rate_limited_total",
			Help: "Requests refused by a rate limit, by scope.",
		}, []string{"scope"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "sessions_live",
			Help: "Live MCP sessions on this replica.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "tool_calls_in_flight",
			Help: "Tool calls under way on this replica.",
		}),
	}
	version, revision := buildVersion()
	if opts.Version != "" {
		version = opts.Version
	}
	if opts.Revision != "" {
		revision = opts.Revision
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Always 1; its labels say which build runs.",
	}, []string{"version", "revision", "goversion"})
	build.WithLabelValues(version, revision, runtime.Version()).Set(1)

	r.reg.MustRegister(r.toolCalls, r.upstream, r.retries, r.rateLimited, r.sessions, r.inFlight, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.CoordinationUp != nil {
		up := opts.CoordinationUp
		r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "coordination_up",
			Help: "1 when this replica reaches Redis, 0 while limits fall back to its own share and creates are refused.",
		}, func() float64 {
			if up() {
				return 1
			}
			return 0
		}))
	}
	// Zero series for the fixed sets, so a dashboard sees 0 rather than no data.
	for s := range scopes {
		r.rateLimited.WithLabelValues(s)
	}
	return r
}

// Handler serves the metrics in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Server returns an HTTP server for --metrics-listen that serves Handler on /metrics only.
func (r *Registry) Server(addr string) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.Handler())
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
}

// ToolCall counts one finished tool call.
func (r *Registry) ToolCall(tool string, outcome Outcome) {
	if r == nil {
		return
	}
	r.toolCalls.WithLabelValues(r.tool(tool), known(outcomes, outcome)).Inc()
}

// CallStarted counts a tool call in flight until done is called.
func (r *Registry) CallStarted() (done func()) {
	if r == nil {
		return func() {}
	}
	r.inFlight.Inc()
	return r.inFlight.Dec
}

// Upstream records one Exoscale API request: its operation, its HTTP status (0 when no
// response came) and how long it took.
func (r *Registry) Upstream(operation string, status int, took time.Duration) {
	if r == nil {
		return
	}
	r.upstream.WithLabelValues(r.tool(operation), StatusClass(status)).Observe(took.Seconds())
}

// Retry counts one retried Exoscale API request.
func (r *Registry) Retry(operation, reason string) {
	if r == nil {
		return
	}
	r.retries.WithLabelValues(r.tool(operation), known(retryReasons, reason)).Inc()
}

// RateLimited counts one request refused by the limit of scope.
func (r *Registry) RateLimited(scope string) {
	if r == nil {
		return
	}
	r.rateLimited.WithLabelValues(known(scopes, scope)).Inc()
}

// SessionOpened and SessionClosed track live sessions on this replica.
func (r *Registry) SessionOpened() {
	if r != nil {
		r.sessions.Inc()
	}
}

// SessionClosed: see SessionOpened.
func (r *Registry) SessionClosed() {
	if r != nil {
		r.sessions.Dec()
	}
}

// StatusClass is the label of an HTTP status: 2xx, 4xx, 5xx, error (no response: 0), or other.
func StatusClass(status int) string {
	switch {
	case status == 0:
		return "error"
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return Other
}

// ListenAddress turns --metrics-listen into an address to listen on: "" is off, a bare ":port"
// binds loopback only, and an explicit host (0.0.0.0, a pod IP) is the operator's choice.
func ListenAddress(flag string) (string, error) {
	if flag == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(flag)
	if err != nil {
		return "", &net.AddrError{Err: "--metrics-listen: expected host:port or :port (" + err.Error() + ")", Addr: flag}
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func (r *Registry) tool(name string) string {
	if _, ok := r.tools[name]; ok {
		return name
	}
	return Other
}

func known[T ~string](s map[string]struct{}, v T) string {
	if _, ok := s[string(v)]; ok {
		return string(v)
	}
	return Other
}

func set[T ~string](vs ...T) map[string]struct{} {
	m := make(map[string]struct{}, len(vs))
	for _, v := range vs {
		m[string(v)] = struct{}{}
	}
	return m
}

// buildVersion reads the module version and VCS revision the binary was built with
// (buildinfo.Read), for when Options leaves them unset.
func buildVersion() (version, revision string) {
	bi, _ := debug.ReadBuildInfo()
	d := buildinfo.Read(bi)
	version, revision = "devel", "unknown"
	if d.ModuleVersion != "" && d.ModuleVersion != "(devel)" {
		version = d.ModuleVersion
	}
	if d.Revision != "" {
		revision = d.Revision
	}
	return version, revision
}
