// Package scale wires what several replicas of the http command share: Redis (internal/coord)
// for rate limits, the create lock, single-use confirmations and the session cap, and
// Prometheus metrics (internal/metrics). It plugs them into the engine (through server.Shared)
// and into internal/httpserve. Without its flags nothing changes: one process keeps
// everything in memory.
package scale

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/coord"
	"github.com/exokeys/exoscale-keys-mcp/internal/httpserve"
	"github.com/exokeys/exoscale-keys-mcp/internal/metrics"
	"github.com/exokeys/exoscale-keys-mcp/internal/server"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// Flags are the http command's flags for running several replicas: Redis for what they share,
// and /metrics. Without them nothing changes: one process keeps everything in memory.
type Flags struct {
	redisURL      string
	stateKeyFile  string
	replicas      int
	metricsListen string
	lockTTL       time.Duration
}

// redisURLEnv is where the Redis URL is best given: it may hold a password, which a flag would
// show in ps.
const redisURLEnv = "EXOSCALE_MCP_REDIS_URL"

// Register defines the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis shared by several replicas: rate limits, the create lock, confirmations and the session cap (redis://[user:password@]host:port[/db], rediss://…, unix:///path); better in "+redisURLEnv+", as the URL may hold a password. Unset: everything stays in this process")
	fs.StringVar(&f.stateKeyFile, "state-key-file", "", "file holding the key (32+ random bytes, mode 0600) that seals confirmation state, the same on every replica so a confirmation asked on one completes on another; needs --redis-url")
	fs.IntVar(&f.replicas, "replicas", 1, "how many replicas share --redis-url: while Redis is unreachable each one grants its share (1/N) of the rate limits and the session cap")
	fs.StringVar(&f.metricsListen, "metrics-listen", "", "serve Prometheus metrics at /metrics on this address (\":9090\" binds loopback; name a host to listen beyond it); off by default")
	fs.DurationVar(&f.lockTTL, "lock-ttl", coord.DefaultLockTTL, "with --redis-url: how long the shared create lock outlives a replica that died holding it (creates of that name wait that long at most); a live holder renews it every third of it")
}

// Out is what the flags set up: the parts the engine and the HTTP server plug in, and what to
// close at the end.
type Out struct {
	// Engine replaces the engine's in-process parts; zero without Redis and metrics.
	Engine   server.Shared
	metrics  *metricsSink // nil: no --metrics-listen
	addr     string       // where metrics are served
	client   *coord.Client
	replicas int
	closers  []func()
}

// Close stops what Setup, Wire and ServeMetrics started, in reverse order.
func (s *Out) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// Setup checks the flags and connects to Redis. log must not see the URL: only coord's
// address-only messages reach it.
func (f *Flags) Setup(ctx context.Context, log *slog.Logger, getenv func(string) string) (_ *Out, err error) {
	url := f.redisURL
	if url == "" {
		url = strings.TrimSpace(getenv(redisURLEnv))
	} else if strings.Contains(url, "@") {
		log.Warn("--redis-url holds credentials, which any user can read in the process list: set " + redisURLEnv + " instead")
	}
	if f.replicas < 1 {
		return nil, fmt.Errorf("--replicas: expected 1 or more, got %d", f.replicas)
	}
	metricsAddr, err := metrics.ListenAddress(f.metricsListen)
	if err != nil {
		return nil, err
	}
	s := &Out{replicas: f.replicas}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if metricsAddr != "" {
		s.metrics, s.addr = &metricsSink{}, metricsAddr
	}
	if url == "" {
		switch {
		case f.stateKeyFile != "":
			return nil, errors.New("--state-key-file needs --redis-url (or " + redisURLEnv + "): replicas that share the key must also share which confirmations were used, or one answer could count once on each")
		case f.replicas > 1:
			return nil, errors.New("--replicas needs --redis-url (or " + redisURLEnv + "): without Redis, replicas share nothing")
		}
		if s.metrics != nil {
			s.Engine.Observer = s.metrics
		}
		return s, nil
	}
	if f.lockTTL < time.Second {
		return nil, fmt.Errorf("--lock-ttl: expected 1s or more, got %v (a live holder renews its lock every third of it)", f.lockTTL)
	}
	var key []byte
	if f.stateKeyFile != "" {
		if key, err = coord.LoadStateKey(f.stateKeyFile); err != nil {
			return nil, err
		}
	} else if f.replicas > 1 {
		log.Warn("--replicas without --state-key-file: each replica seals confirmations with its own key, so a confirmation must be answered on the replica that asked (sticky sessions only)")
	}
	sealer, err := tools.NewHMACSealer(key)
	if err != nil {
		return nil, err
	}
	client, err := coord.Open(ctx, url, coord.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	s.client = client
	s.closers = append(s.closers, func() { client.Close() })
	s.Engine = server.Shared{
		Locker: client.NewLocker(coord.LockOptions{TTL: f.lockTTL}),
		Sealer: sealer,
		Nonces: nonceStore{client.NewNonceStore(), log},
	}
	if s.metrics != nil {
		s.Engine.Observer = s.metrics
	}
	log.Info("sharing rate limits, the create lock, confirmations and the session cap through Redis", "replicas", f.replicas, "shared-state-key", key != nil)
	return s, nil
}

// Wire plugs the shared limiters and session counter into hs; it runs after Setup, before
// hs.ServerOptions.
func (s *Out) Wire(hs *httpserve.Server, l httpserve.Limits) error {
	replicas := s.replicas
	if s.metrics != nil {
		hs.Observer = s.metrics
	}
	if s.client == nil {
		return nil
	}
	shared := func(name string, rate float64, burst int) (*coord.Limiter, error) {
		return s.client.NewLimiter(coord.LimiterOptions{Name: name, Rate: rate, Burst: burst, Replicas: replicas, MaxLocalKeys: max(2*l.MaxSessions, 1024)})
	}
	var err error
	if hs.Limiters.Overall, err = shared("overall", l.Rate, l.Burst); err != nil {
		return err
	}
	if hs.Limiters.Credential, err = shared("credential", l.SessionRate, l.SessionBurst); err != nil {
		return err
	}
	// Per session and per client address stay per replica. A 2025-11-25 session lives on the
	// replica that created it (the proxy keeps it there), so its budget is already whole there,
	// and sharing it would add a Redis round trip to every request of every session. Each
	// replica sees its own peers (behind a proxy, the proxy), and that budget guards this
	// process.
	sc := s.client.NewSessionCounter(coord.SessionOptions{Cap: l.MaxSessions, Replicas: replicas})
	s.closers = append(s.closers, sc.Close)
	hs.Sessions = sc
	return nil
}

// ServeMetrics builds the metrics registry for the tools reg serves and serves /metrics until
// Close; it returns reg observed by the metrics (reg itself without --metrics-listen). version
// is the binary's, for the build-info metric.
func (s *Out) ServeMetrics(log *slog.Logger, reg *tools.Registry, version string) (*tools.Registry, error) {
	if s.metrics == nil {
		return reg, nil
	}
	names := schemas.APIOperationNames()
	for _, t := range reg.Tools() {
		names = append(names, t.Name)
	}
	opts := metrics.Options{Tools: slices.Compact(slices.Sorted(slices.Values(names))), Version: version}
	if s.client != nil {
		opts.CoordinationUp = s.client.Available
	}
	s.metrics.reg = metrics.New(opts)
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	srv := s.metrics.reg.Server(s.addr)
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	s.closers = append(s.closers, func() { srv.Close() })
	return reg.Observed(s.metrics), nil
}

// nonceStore adapts coord's NonceStore to the engine's: without Redis an answer is not
// honoured (the server asks again), since honouring it could let one answer count twice.
type nonceStore struct {
	ns  *coord.NonceStore
	log *slog.Logger
}

func (n nonceStore) Use(nonce string, expires time.Time) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	fresh, err := n.ns.Consume(ctx, nonce, expires)
	if err != nil {
		n.log.Warn("a confirmation answer was not honoured: its single use could not be recorded", "err", err)
		return false
	}
	return fresh
}

// metricsSink feeds the metrics registry from the engine (tool calls), apiclient (upstream
// requests, retries) and httpserve (rate limits, sessions). reg is set before serving starts.
type metricsSink struct {
	reg *metrics.Registry
}

func (m *metricsSink) Request(op string, status int, took time.Duration) {
	m.reg.Upstream(op, status, took)
}
func (m *metricsSink) Retry(op, reason string)  { m.reg.Retry(op, reason) }
func (m *metricsSink) RateLimited(scope string) { m.reg.RateLimited(scope) }
func (m *metricsSink) SessionOpened()           { m.reg.SessionOpened() }
func (m *metricsSink) SessionClosed()           { m.reg.SessionClosed() }

// CallStarted implements tools.CallObserver.
func (m *metricsSink) CallStarted(_ context.Context, tool string) func(context.Context, tools.Result, error) {
	done := m.reg.CallStarted()
	return func(ctx context.Context, res tools.Result, err error) {
		done()
		m.reg.ToolCall(tool, outcomeOf(ctx, res, err))
	}
}

// outcomeOf is a call's outcome label: the engine's outcome, with a failure told apart by
// cause (coordination, timeout, the client leaving, Exoscale).
func outcomeOf(ctx context.Context, res tools.Result, err error) metrics.Outcome {
	if err != nil {
		return metrics.OutcomeInternal
	}
	unavailable := strings.Contains(res.Text, coord.ErrUnavailable.Error())
	switch res.Outcome {
	case tools.OK:
		return metrics.OutcomeOK
	case tools.DryRun:
		return metrics.OutcomeDryRun
	case tools.Invalid:
		return metrics.OutcomeInvalid
	case tools.Declined:
		return metrics.OutcomeDeclined
	case tools.NeedsInput:
		return metrics.OutcomeNeedsInput
	case tools.Refused:
		if unavailable {
			return metrics.OutcomeUnavailable
		}
		return metrics.OutcomeRefused
	case tools.Failed:
		switch {
		case unavailable:
			return metrics.OutcomeUnavailable
		case errors.Is(ctx.Err(), context.Canceled):
			return metrics.OutcomeCanceled
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return metrics.OutcomeTimeout
		}
		return metrics.OutcomeUpstreamError
	}
	return metrics.OutcomeInternal
}
