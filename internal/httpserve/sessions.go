package httpserve

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/server"
)

// sessionIDs mints and checks MCP session ids for mcp-go (a server.SessionIdManager). Unlike
// mcp-go's InsecureStatefulSessionIdManager it keeps no tombstone of ended sessions, a map that
// only grows: an id it does not hold, ended or never issued, is an error, which [sessions]
// answers with 404, as the spec asks:
// https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#session-management
type sessionIDs struct{ live sync.Map } // id → owner's credential tag ("" until claimed)

var errUnknownSession = errors.New("unknown session")

// Generate issues a new random session id.
func (m *sessionIDs) Generate() string {
	id := "mcp-session-" + uuid.NewString()
	m.live.Store(id, "")
	return id
}

// claim records the credential that started a session (multi-tenant mode), once.
func (m *sessionIDs) claim(id, owner string) { m.live.CompareAndSwap(id, "", owner) }

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

// Terminate forgets the id (DELETE, or mcp-go's idle sweeper).
func (m *sessionIDs) Terminate(id string) (isNotAllowed bool, err error) {
	m.live.Delete(id)
	return false, nil
}

var _ server.SessionIdManager = (*sessionIDs)(nil)

// sessions refuses a request naming a session that is not live (404; in multi-tenant mode
// also one started by another credential, so that it learns nothing), and a GET without a
// session (400): mcp-go would mint a session id for it that nobody initialized.
func sessions(ids *sessionIDs, multiTenant bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(headerSession)
		if id == "" {
			if r.Method == http.MethodGet {
				httpError(w, http.StatusBadRequest, "a listening stream (GET) needs the Mcp-Session-Id of an initialized session")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if _, err := ids.Validate(id); err != nil || (multiTenant && !ids.ownedBy(id, credentialTag(r))) {
			httpError(w, http.StatusNotFound, "no such session: it ended or never existed; start a new one (initialize)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sessionCap counts live sessions, and the requests in flight that may register one: together
// they never exceed max, however many initialize at once.
type sessionCap struct {
	max    int
	shared SessionCounter // nil: this replica's count is the only one
	obs    Observer

	mu            sync.Mutex
	live, pending int
	held          map[string]func() // session id → its place under the shared cap
}

// reservationKey carries a request's *reservation to the session-registration hook.
type reservationKey struct{}

// reservation holds a place under the cap for a request that may register a session. It is
// released when the session registers (the place becomes the live session's) or when the
// request ends without one.
type reservation struct {
	c      *sessionCap
	done   bool   // under c.mu
	shared func() // the place under the shared cap, until the session takes it (under c.mu)
}

func (c *sessionCap) reserve() (*reservation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live+c.pending >= c.max {
		return nil, false
	}
	c.pending++
	return &reservation{c: c}, true
}

func (r *reservation) release() {
	r.c.mu.Lock()
	r.releaseLocked()
	shared := r.shared
	r.shared = nil
	r.c.mu.Unlock()
	if shared != nil {
		shared() // no session took it
	}
}

func (r *reservation) releaseLocked() {
	if !r.done {
		r.done = true
		r.c.pending--
	}
}

// hooks keeps the count of live sessions: register them on the MCP server.
func (c *sessionCap) hooks() *server.Hooks {
	h := &server.Hooks{}
	h.AddOnRegisterSession(func(ctx context.Context, cs server.ClientSession) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.live++
		c.obs.SessionOpened()
		if res, ok := ctx.Value(reservationKey{}).(*reservation); ok {
			res.releaseLocked()
			if res.shared != nil {
				if c.held == nil {
					c.held = map[string]func(){}
				}
				c.held[cs.SessionID()] = res.shared
				res.shared = nil
			}
		}
	})
	h.AddOnUnregisterSession(func(_ context.Context, cs server.ClientSession) {
		c.mu.Lock()
		c.live--
		c.obs.SessionClosed()
		shared := c.held[cs.SessionID()]
		delete(c.held, cs.SessionID())
		c.mu.Unlock()
		if shared != nil {
			shared()
		}
	})
	return h
}

// limit refuses (503, Retry-After) a request that would start a session past the cap. Every
// initialize counts, with or without an Mcp-Session-Id: mcp-go mints a new session for each.
// In multi-tenant mode the new session is claimed by the caller's credential.
func (c *sessionCap) limit(ids *sessionIDs, multiTenant bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !startsSession(r) {
			next.ServeHTTP(w, r)
			return
		}
		res, ok := c.reserve()
		if ok && c.shared != nil {
			var release func()
			var err error
			release, ok, err = c.shared.Acquire(r.Context())
			if err != nil {
				res.release()
				return // the client went away
			}
			if !ok {
				res.release()
			}
			res.shared = release
		}
		if !ok {
			w.Header().Set("Retry-After", "5")
			httpError(w, http.StatusServiceUnavailable, "too many live sessions: end unused sessions (DELETE) or retry later")
			return
		}
		defer res.release()
		r = r.WithContext(context.WithValue(r.Context(), reservationKey{}, res))
		if multiTenant {
			tag := credentialTag(r)
			w = &claimingWriter{ResponseWriter: w, claim: func(id string) { ids.claim(id, tag) }}
		}
		next.ServeHTTP(w, r)
	})
}

// startsSession: an initialize (POST) makes mcp-go mint and register a session. A GET without
// a session does too, but [sessions] refuses those.
func startsSession(r *http.Request) bool { return postMethod(r) == "initialize" }

// claimingWriter records who owns the session an initialize response mints.
type claimingWriter struct {
	http.ResponseWriter
	claim   func(id string)
	claimed bool
}

func (c *claimingWriter) WriteHeader(status int) {
	if !c.claimed {
		c.claimed = true
		if id := c.Header().Get(headerSession); id != "" {
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
