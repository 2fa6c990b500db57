// Package coord shares, through Redis, the state that several replicas of the server must agree
// on: rate limits, the per-name create lock, single-use confirmation nonces and the session
// count. One replica alone needs none of it; --redis-url turns it on.
//
// Nothing secret goes to Redis: every key that derives from a caller (a credential, a name, a
// nonce) is stored as a SHA-256 digest, and values are tokens, timestamps or counts.
//
// When Redis cannot be reached, each part degrades in the way that stays safe: the limiter falls
// back to this replica's share of the budget, Lock and Consume fail with an error that begins
// "the server cannot coordinate with its other replicas: " (a write that needs the lock is
// refused rather than risk a duplicate), and the session counter counts this replica's share.
// go-redis redials on its own; a small breaker keeps calls from waiting on a dead Redis more than
// once a second, so reads never slow down while it is away.
package coord

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is wrapped by every error that comes from not reaching Redis. Its text is the
// start of those errors' messages, written for the agent that reads them.
var ErrUnavailable = errors.New("the server cannot coordinate with its other replicas")

// DefaultPrefix starts every key this package writes.
const DefaultPrefix = "exoscale-keys-mcp:"

// Options tune a Client. The zero value is good.
type Options struct {
	// Prefix starts every key (default DefaultPrefix): two deployments can share one Redis.
	Prefix string
	// RetryAfter is how long, after a failure, calls skip Redis and degrade at once instead of
	// waiting on it again (default 1 s). It bounds how soon a recovered Redis is used again.
	RetryAfter time.Duration
	// Timeout bounds one Redis round trip (dial, read, write; default 500 ms).
	Timeout time.Duration
	// Logger receives one warning when Redis goes away and one note when it is back.
	Logger *slog.Logger
}

// Client is a connection pool to one Redis, shared by the limiters, lockers, nonce stores and
// session counters made from it.
type Client struct {
	rdb        *redis.Client
	addr       string // host:port or socket path: never the URL, which may hold a password
	prefix     string
	retryAfter time.Duration
	log        *slog.Logger

	mu        sync.Mutex
	downUntil time.Time
	down      bool
	lastErr   error
}

// Open connects to the Redis at rawURL (redis://, rediss:// or unix://, as go-redis parses them)
// and checks it answers. An unreachable Redis at start-up is an error: the operator asked for
// coordination, and starting without it would hide a typo in the URL.
func Open(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	c, err := New(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("--redis-url: redis at %s does not answer: %w", c.addr, err)
	}
	return c, nil
}

// New makes a client without contacting Redis.
func New(rawURL string, opts Options) (*Client, error) {
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		// The URL may hold a password: say what is wrong without repeating it.
		return nil, fmt.Errorf("--redis-url: expected redis://[user:password@]host:port[/db], rediss://… or unix:///path/to.sock: %w", redactURLError(err, rawURL))
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	// Short timeouts and one retry: a call that waits on Redis waits on the caller's behalf, and
	// one retry heals a pooled connection that a Redis restart broke.
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = timeout, timeout, timeout
	ro.PoolTimeout = 2 * timeout
	ro.MaxRetries = 1
	ro.MinRetryBackoff, ro.MaxRetryBackoff = 8*time.Millisecond, 64*time.Millisecond
	c := &Client{
		rdb:        redis.NewClient(ro),
		addr:       ro.Addr,
		prefix:     opts.Prefix,
		retryAfter: opts.RetryAfter,
		log:        opts.Logger,
	}
	if c.prefix == "" {
		c.prefix = DefaultPrefix
	}
	if c.retryAfter <= 0 {
		c.retryAfter = time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	// go-redis prints its own pool errors to stderr; the breaker already logs one line per
	// outage, so its lines go to debug. (Its logger is global: the first client's logger wins.)
	setRedisLogger.Do(func() { redis.SetLogger(redisLog{c.log}) })
	return c, nil
}

var setRedisLogger sync.Once

// redisLog sends go-redis's log lines to slog at debug level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// Close closes the pool.
func (c *Client) Close() error { return c.rdb.Close() }

// Available says whether the last call reached Redis (for a health or metrics endpoint).
func (c *Client) Available() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.down
}

// ready returns nil when a call may try Redis, or the coordination error while the breaker is
// open.
func (c *Client) ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down && time.Now().Before(c.downUntil) {
		return c.unavailable(c.lastErr)
	}
	return nil
}

// done records the outcome of a call and returns err worded for the caller: nil, the caller's
// own cancellation as it is, or a coordination error.
func (c *Client) done(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		c.mu.Lock()
		if c.down {
			c.down = false
			c.log.Info("redis is reachable again: limits, locks and sessions are shared across replicas", "redis", c.addr)
		}
		c.mu.Unlock()
		return err
	}
	if ctx.Err() != nil {
		// The caller gave up; that says nothing about Redis.
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down {
		c.log.Warn("redis unreachable: limits fall back to this replica's share, writes that need the create lock are refused", "redis", c.addr, "err", err)
	}
	c.down, c.downUntil, c.lastErr = true, time.Now().Add(c.retryAfter), err
	return c.unavailable(err)
}

func (c *Client) unavailable(err error) error {
	return fmt.Errorf("%w: redis at %s: %v; retry in a few seconds, or ask the operator to check Redis", ErrUnavailable, c.addr, err)
}

// key builds a Redis key for a caller-derived value: its digest, never the value.
func (c *Client) key(kind, value string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + value))
	return c.prefix + kind + ":" + hex.EncodeToString(sum[:16])
}

// randomToken returns 128 random bits in hex.
func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// redactURLError removes the URL's user information (which may hold a password) from a parse
// error that quotes the URL.
func redactURLError(err error, rawURL string) error {
	msg := err.Error()
	i, j := strings.Index(rawURL, "://"), strings.LastIndex(rawURL, "@")
	if i >= 0 && j > i+3 {
		userinfo := rawURL[i+3 : j]
		quoted := strconv.Quote(userinfo)
		msg = strings.ReplaceAll(msg, userinfo, "xxxxx")
		msg = strings.ReplaceAll(msg, quoted[1:len(quoted)-1], "xxxxx")
	}
	return errors.New(msg)
}
