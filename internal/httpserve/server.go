package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/internal/cli"
)

// Server is the hardened streamable HTTP endpoint at /mcp, with /healthz beside it. It serves
// both protocol eras mcp-go does: 2025-11-25, with sessions
// (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#streamable-http),
// and the sessionless 2026-07-28
// (https://modelcontextprotocol.io/specification/2026-07-28/basic/transports/streamable-http).
type Server struct {
	flags Flags
	token string
	tls   *tls.Config

	// Limiters are the rate limits; [New] sets in-process ones, which a caller may replace
	// before [Server.Run] (with limiters shared by several replicas, say).
	Limiters Limiters
	// Sessions, when set before [Server.ServerOptions] and [Server.Run], counts sessions
	// across replicas: an initialize needs a place under --max-sessions there too.
	Sessions SessionCounter
	// Observer, when set before [Server.ServerOptions] and [Server.Run], hears of rate-limit
	// refusals and sessions (metrics).
	Observer Observer

	ids      *sessionIDs
	cap      *sessionCap
	inflight atomic.Int64 // requests other than listening streams (GET), for shutdown
	ln       net.Listener // bound by [Server.Listen], served by Run
}

// New checks the exposure rules (see [Flags.CheckExposure]) and loads the TLS key pair, so a
// bad flag or file refuses to start before anything else does. token is the bearer token
// clients must send ("" for none).
func New(f Flags, token string) (*Server, error) {
	if err := f.CheckExposure(token); err != nil {
		return nil, err
	}
	s := &Server{flags: f, token: token, Limiters: NewLimiters(f.Limits), ids: &sessionIDs{}, cap: &sessionCap{max: f.Limits.MaxSessions}}
	if f.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(f.TLSCert, f.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("TLS: loading --tls-cert and --tls-key: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// ServerOptions are the options the MCP server served by Run must be built with: hooks that
// keep the session count.
func (s *Server) ServerOptions() []server.ServerOption {
	s.cap.shared = s.Sessions
	s.cap.obs = s.observer()
	return []server.ServerOption{server.WithHooks(s.cap.hooks())}
}

// Listen binds --listen now, so that a busy or bad address is reported before anything else
// starts; Run then serves on that very socket. Close releases it if Run is never called.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.flags.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", s.flags.Listen, err)
	}
	s.ln = ln
	return nil
}

// Close releases the socket [Server.Listen] bound when Run did not serve it; after Run it
// does nothing that matters.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	return s.ln.Close()
}

// Run serves on the socket [Server.Listen] bound (binding --listen itself if Listen was not
// called), logs the bound address (with port 0 the system picks it), and serves mcpSrv until
// ctx ends; then it shuts down gracefully.
func (s *Server) Run(ctx context.Context, log *slog.Logger, mcpSrv *server.MCPServer) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	ln := s.ln
	hs, shutdown := s.newHTTPServer(log, mcpSrv)
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	log.Info("serving streamable HTTP", "url", fmt.Sprintf("%s://%s/mcp", scheme, ln.Addr()),
		"bearer-token", s.token != "", "credentials-from-headers", s.flags.CredentialsFromHeaders)

	errc := make(chan error, 1)
	go func() {
		if s.tls != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case serveErr = <-errc: // serving failed: still stop mcp-go's session sweeper
	case <-ctx.Done():
		log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(serveErr, shutdown(sctx))
}

// streamGrace is how long shutdown waits, once no call is in flight, for the listening
// streams to end after it closed their sessions, before it closes their connections.
const streamGrace = 500 * time.Millisecond

// newHTTPServer wires the MCP endpoint behind the middleware; shutdown stops it gracefully.
func (s *Server) newHTTPServer(log *slog.Logger, mcpSrv *server.MCPServer) (*http.Server, func(context.Context) error) {
	opts := []server.StreamableHTTPOption{
		server.WithEndpointPath("/mcp"),
		// Stateful, and ours to ask: a session ended by DELETE is gone (404 afterwards), for
		// every method.
		server.WithSessionIdManager(s.ids),
		server.WithSessionIdleTTL(s.flags.Limits.SessionIdleTTL),
		server.WithStreamableHTTPLogger(log),
	}
	if s.flags.CredentialsFromHeaders {
		opts = append(opts, server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			return apiclient.WithCredentials(ctx, apiclient.Credentials{Key: r.Header.Get(headerKey), Secret: r.Header.Get(headerSecret)})
		}))
	}
	streamable := server.NewStreamableHTTPServer(mcpSrv, opts...)

	mux := http.NewServeMux()
	mux.Handle("/mcp", s.handler(streamable))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: s.flags.Limits.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:         s.tls,
	}
	// Graceful: stop accepting, let the calls in flight finish and answer, and only then end the
	// listening streams (GET, subscriptions/listen), which never go idle by themselves. Ending
	// them first would make clients fail the calls still in flight. A stream that outlives
	// that (a proxy keeps its side open after the client left) is cut after streamGrace:
	// ending streams is what shutdown means, so that is no error.
	shutdown := func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() { done <- hs.Shutdown(ctx) }()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var cut <-chan time.Time
		for {
			select {
			case err := <-done:
				if err != nil && cut == nil {
					// Calls still in flight at the deadline: they are cut, and that is an error.
					hs.Close()
					return errors.Join(err, streamable.Shutdown(context.Background()))
				}
				hs.Close()
				return streamable.Shutdown(ctx)
			case <-tick.C:
				if cut == nil && s.inflight.Load() == 0 {
					streamable.CloseSessions(ctx)
					cut = time.After(streamGrace)
				}
			case <-cut:
				log.Info("closing the listening streams still open")
				hs.Close()
				<-done
				return streamable.Shutdown(ctx)
			}
		}
	}
	return hs, shutdown
}

// handler puts next (mcp-go's StreamableHTTPServer, built with [Server.ServerOptions] on its
// MCP server and this server's session ids) behind the checks, in the order the package
// documentation gives.
func (s *Server) handler(next http.Handler) http.Handler {
	multi := s.flags.CredentialsFromHeaders
	h := s.cap.limit(s.ids, multi, next)
	h = stampNotifications(h)
	// Inside bodyLimit: the body is in memory, so a listening stream can be told from a call.
	h = s.countInflight(h)
	// Duplicate keys and integers past 2^53 are refused before mcp-go decodes (and silently
	// merges or rounds) them, on the body bodyLimit read: read once, bounded by --max-body, and
	// a slow one is bodyLimit's 408.
	h = bodyLimit(s.flags.Limits.MaxBody, guardJSON(h))
	h = readDeadline(s.flags.Limits.ReadTimeout, h)
	h = rateLimit(s.Limiters, s.observer(), multi, h)
	h = sessions(s.ids, multi, h)
	if multi {
		h = tenantCredentials(h)
	}
	if s.token != "" {
		h = bearer(s.token, h)
	}
	h = origin(cli.SplitList(s.flags.AllowedOrigins), h)
	return queryCredentials(h)
}

func (s *Server) observer() Observer {
	if s.Observer == nil {
		return noObserver{}
	}
	return s.Observer
}

// countInflight counts the calls under way, for shutdown: every POST but a 2026-07-28
// subscriptions/listen, which is a listening stream like a 2025-11-25 GET and never ends
// by itself.
func (s *Server) countInflight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !listens(r) {
			s.inflight.Add(1)
			defer s.inflight.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// listens reports whether a POST opens a listening stream (subscriptions/listen).
func listens(r *http.Request) bool { return postMethod(r) == "subscriptions/listen" }
