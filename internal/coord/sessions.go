package coord

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// acquireScript counts live sessions in a sorted set scored by expiry (Redis's clock, in ms),
// drops the expired ones, and adds member when the count is under the cap.
//
// KEYS[1] the set; ARGV[1] member; ARGV[2] cap; ARGV[3] ttl in ms. Returns 1 when added.
var acquireScript = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[3]) * 2)
return 1
`)

// refreshScript pushes back the expiry of this replica's live sessions.
//
// KEYS[1] the set; ARGV[1] ttl in ms; ARGV[2…] members.
var refreshScript = redis.NewScript(`
local t = redis.call("TIME")
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call("ZADD", KEYS[1], until_ms, ARGV[i])
end
redis.call("PEXPIRE", KEYS[1], tonumber(ARGV[1]) * 2)
return #ARGV - 1
`)

// SessionOptions configure a SessionCounter.
type SessionOptions struct {
	// Cap is the most live sessions across all replicas (at least 1).
	Cap int
	// Replicas is how many replicas share the cap: while Redis is unreachable this one admits
	// up to Cap/Replicas (rounded up) of its own.
	Replicas int
	// TTL is how long a session counts after its replica last said it is alive (default 60 s):
	// a replica that died stops counting after that. The counter refreshes every TTL/3.
	TTL time.Duration
}

// SessionCounter caps live sessions across replicas. Each session is a random member (never a
// session id) in one sorted set, scored by an expiry that this replica keeps pushing back while
// the session lives.
type SessionCounter struct {
	c        *Client
	key      string
	cap      int
	share    int
	ttl      time.Duration
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	// mu guards held and orders releases against refreshes, so a refresh never re-adds a member
	// that a release just removed.
	mu   sync.Mutex
	held map[string]struct{}
}

// NewSessionCounter makes a counter on c and starts its refresh loop; Close stops it.
func (c *Client) NewSessionCounter(opts SessionOptions) *SessionCounter {
	n := max(opts.Replicas, 1)
	s := &SessionCounter{
		c:    c,
		key:  c.prefix + "sessions",
		cap:  max(opts.Cap, 1),
		ttl:  opts.TTL,
		stop: make(chan struct{}),
		held: map[string]struct{}{},
	}
	if s.ttl <= 0 {
		s.ttl = time.Minute
	}
	s.share = (s.cap + n - 1) / n
	s.wg.Add(1)
	go s.refreshLoop()
	return s
}

// Acquire counts one more session, or reports ok false when the cap is reached. Without Redis
// it admits up to this replica's share, and says so only in the log. err is the caller's own
// cancellation.
func (s *SessionCounter) Acquire(ctx context.Context) (release func(), ok bool, err error) {
	member := randomToken()
	admitted := false
	if s.c.ready() == nil {
		n, rerr := acquireScript.Run(ctx, s.c.rdb, []string{s.key}, member, s.cap, s.ttl.Milliseconds()).Int()
		rerr = s.c.done(ctx, rerr)
		switch {
		case rerr == nil && n == 0:
			return nil, false, nil
		case rerr == nil:
			admitted = true
		case ctx.Err() != nil:
			return nil, false, ctx.Err()
		}
	}
	s.mu.Lock()
	if !admitted && len(s.held) >= s.share {
		s.mu.Unlock()
		return nil, false, nil
	}
	// A session admitted without Redis joins the shared count at the next refresh.
	s.held[member] = struct{}{}
	s.mu.Unlock()

	var once sync.Once
	return func() { once.Do(func() { s.release(member) }) }, true, nil
}

func (s *SessionCounter) release(member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, member)
	if s.c.ready() != nil {
		return // it ages out of Redis after TTL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.c.done(ctx, s.c.rdb.ZRem(ctx, s.key, member).Err())
}

// Live returns how many sessions count across all replicas now (for metrics and tests).
func (s *SessionCounter) Live(ctx context.Context) (int, error) {
	if err := s.c.ready(); err != nil {
		return 0, err
	}
	now := fmt.Sprint(time.Now().UnixMilli())
	n, err := s.c.rdb.ZCount(ctx, s.key, "("+now, "+inf").Result()
	if err = s.c.done(ctx, err); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Close stops the refresh loop. Sessions still held age out of the shared count after TTL.
func (s *SessionCounter) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
}

func (s *SessionCounter) refreshLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.refresh()
		}
	}
}

// refresh pushes back the expiry of every session this replica holds.
func (s *SessionCounter) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) == 0 || s.c.ready() != nil {
		return
	}
	args := make([]any, 0, len(s.held)+1)
	args = append(args, s.ttl.Milliseconds())
	for m := range s.held {
		args = append(args, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.c.done(ctx, refreshScript.Run(ctx, s.c.rdb, []string{s.key}, args...).Err())
}
