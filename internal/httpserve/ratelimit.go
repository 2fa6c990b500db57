package httpserve

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/ratelimit"
)

// Limiter decides whether one more request may spend key's budget now. A refused request
// spends nothing of it, and retryAfter says when one would pass. Implementations are safe for
// concurrent use; one process keeps its budgets in [ratelimit.Local], several replicas would share
// theirs through an implementation backed by a shared store.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration)
}

// The scopes of the limits, as Observer.RateLimited reports a refusal.
const (
	ScopeAddress    = "address"
	ScopeCredential = "credential"
	ScopeSession    = "session"
	ScopeOverall    = "overall"
)

// Limiters are the budgets a request spends, from the caller's own to everyone's. A request
// that one of them refuses goes no further, so it never spends the ones after it: the overall
// budget comes last, and only a request all of its caller's budgets allowed takes from it.
type Limiters struct {
	Address    Limiter // per client address, multi-tenant mode only: callers are unverified
	Credential Limiter // per credential, multi-tenant requests without a session
	Session    Limiter // per session
	Overall    Limiter // the whole server, key ""
}

// NewLimiters builds in-process limiters for l. Each per-key limiter holds at most
// max(2×MaxSessions, 1024) budgets and forgets the least recently used one past that.
func NewLimiters(l Limits) Limiters {
	keys := max(2*l.MaxSessions, 1024)
	return Limiters{
		Address:    ratelimit.NewLocal(l.AddressRate, l.AddressBurst, keys),
		Credential: ratelimit.NewLocal(l.SessionRate, l.SessionBurst, keys),
		Session:    ratelimit.NewLocal(l.SessionRate, l.SessionBurst, keys),
		Overall:    ratelimit.NewLocal(l.Rate, l.Burst, 1),
	}
}

// rateLimit answers 429 with Retry-After when any budget the request spends is exhausted. The
// budgets are checked from the caller's own to the overall one (see [Limiters]). A single-tenant
// server does not limit per address: many agents share one host or one proxy.
func rateLimit(ls Limiters, obs Observer, multiTenant bool, next http.Handler) http.Handler {
	if obs == nil {
		obs = noObserver{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		type spend struct {
			lim        Limiter
			key, scope string
		}
		steps := make([]spend, 0, 3)
		if multiTenant {
			steps = append(steps, spend{ls.Address, clientAddress(r), ScopeAddress})
		}
		switch session := r.Header.Get(headerSession); {
		case session != "":
			steps = append(steps, spend{ls.Session, session, ScopeSession})
		case multiTenant:
			steps = append(steps, spend{ls.Credential, credentialTag(r), ScopeCredential})
		}
		steps = append(steps, spend{ls.Overall, "", ScopeOverall})
		for _, s := range steps {
			if s.lim == nil {
				continue
			}
			if ok, wait := s.lim.Allow(r.Context(), s.key); !ok {
				obs.RateLimited(s.scope)
				w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(max(wait.Seconds(), 1))), 10))
				httpError(w, http.StatusTooManyRequests, "rate limit exceeded: slow down and retry after the time in Retry-After")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddress is the peer's IP address. Forwarding headers are not trusted: anyone can
// write them.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
