package coord

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/exokeys/exoscale-keys-mcp/internal/ratelimit"
)

// gcraScript is the generic cell rate algorithm in one atomic step, on Redis's clock so that
// replicas with skewed clocks share one budget. The key holds the theoretical arrival time (TAT)
// in microseconds. A full budget grants burst calls at once, then one per 1/rate seconds: the
// same contract as golang.org/x/time/rate.
//
// KEYS[1] the bucket; ARGV[1] microseconds per token; ARGV[2] burst.
// Returns {1, 0} when granted, {0, microseconds until a token}.
var gcraScript = redis.NewScript(`
local emission = tonumber(ARGV[1])
local tolerance = emission * tonumber(ARGV[2])
local t = redis.call("TIME")
local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
local wait = new_tat - tolerance - now
if wait > 0 then
  return {0, math.ceil(wait)}
end
redis.call("SET", KEYS[1], string.format("%.0f", new_tat), "PX", math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
`)

// LimiterOptions configure a Limiter.
type LimiterOptions struct {
	// Name tells limiters apart in Redis ("overall", "credential"): a fixed word, never a value
	// from a caller.
	Name string
	// Rate is the tokens per second shared by all replicas; ≤ 0 means no limit.
	Rate float64
	// Burst is how many tokens a full bucket holds (at least 1).
	Burst int
	// Replicas is how many replicas share the budget. While Redis is unreachable each replica
	// grants Rate/Replicas a second with a burst of Burst/Replicas (rounded up).
	Replicas int
	// MaxLocalKeys bounds the fallback buckets kept in memory (default 10,000); the least
	// recently used goes first.
	MaxLocalKeys int
}

// Limiter is a rate limiter shared by every replica through Redis, keyed by a caller identity
// (a session, a credential, a client address) that is stored only as a digest.
type Limiter struct {
	c        *Client
	name     string
	emission float64 // microseconds per token
	burst    int
	off      bool

	local *ratelimit.Local
}

// NewLimiter makes a limiter on c.
func (c *Client) NewLimiter(opts LimiterOptions) (*Limiter, error) {
	if opts.Name == "" {
		return nil, fmt.Errorf("coord: limiter needs a name")
	}
	l := &Limiter{c: c, name: opts.Name, off: opts.Rate <= 0, burst: max(opts.Burst, 1)}
	if l.off {
		return l, nil
	}
	l.emission = 1e6 / opts.Rate
	n := max(opts.Replicas, 1)
	l.local = ratelimit.NewLocal(opts.Rate/float64(n), (l.burst+n-1)/n, cmp.Or(opts.MaxLocalKeys, 10000))
	return l, nil
}

// Allow spends one token of key's bucket. When none is left it says how long until one is.
// It never fails: without Redis it spends from this replica's share instead.
func (l *Limiter) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration) {
	if l.off {
		return true, 0
	}
	rkey := l.c.key("rl:"+l.name, key)
	if l.c.ready() == nil {
		res, err := gcraScript.Run(ctx, l.c.rdb, []string{rkey}, l.emission, l.burst).Int64Slice()
		if err = l.c.done(ctx, err); err == nil && len(res) == 2 {
			if res[0] == 1 {
				return true, 0
			}
			return false, time.Duration(res[1]) * time.Microsecond
		}
	}
	// The digest, not the key, names the local bucket too: the map then holds nothing secret.
	return l.local.Allow(ctx, rkey)
}
