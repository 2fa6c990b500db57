package coord

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLockTTL is how long a lock outlives a replica that died holding it: creates of that
// name wait that long at most. A live holder renews its lock every TTL/3 for as long as it
// holds it, so a create slower than the TTL keeps its lock.
const DefaultLockTTL = 15 * time.Second

// renewScript pushes back the lock's expiry while it still holds the owner's token.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
`)

// unlockScript deletes the lock only when it still holds the owner's token: a lock that expired
// and was taken by another replica is not released by the first one.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
`)

// LockOptions configure a Locker. The zero value is good.
type LockOptions struct {
	// TTL is the lock's expiry (default DefaultLockTTL), renewed every TTL/3 while held.
	TTL time.Duration
	// PollMin and PollMax bound the wait between two tries of a taken lock (default 5 ms and
	// 100 ms, growing, with jitter).
	PollMin, PollMax time.Duration
}

// Locker hands out locks by name that hold across replicas: SET NX PX with a random token,
// released by its owner only.
type Locker struct {
	c                *Client
	ttl              time.Duration
	pollMin, pollMax time.Duration
}

// NewLocker makes a locker on c.
func (c *Client) NewLocker(opts LockOptions) *Locker {
	l := &Locker{c: c, ttl: opts.TTL, pollMin: opts.PollMin, pollMax: opts.PollMax}
	if l.ttl <= 0 {
		l.ttl = DefaultLockTTL
	}
	if l.pollMin <= 0 {
		l.pollMin = 5 * time.Millisecond
	}
	if l.pollMax < l.pollMin {
		l.pollMax = max(100*time.Millisecond, l.pollMin)
	}
	return l
}

// Lock waits until it holds name's lock, ctx ends, or Redis cannot be reached. The name is
// stored as a digest. unlock is safe to call more than once; it releases the lock even when ctx
// has ended.
func (l *Locker) Lock(ctx context.Context, name string) (unlock func(), err error) {
	key := l.c.key("lock", name)
	token := randomToken()
	wait := l.pollMin
	for {
		if err := l.c.ready(); err != nil {
			return nil, err
		}
		err := l.c.rdb.SetArgs(ctx, key, token, redis.SetArgs{Mode: "NX", TTL: l.ttl}).Err()
		switch err = l.c.done(ctx, err); {
		case err == nil:
			return l.unlocker(key, token), nil
		case err != redis.Nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("waiting for the create lock: %w", ctx.Err())
			}
			return nil, err
		}
		// Taken: wait and try again.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for the create lock: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, l.pollMax)
	}
}

func (l *Locker) unlocker(key, token string) func() {
	var once sync.Once
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go l.renew(key, token, stop, renewed)
	return func() {
		once.Do(func() {
			close(stop)
			<-renewed
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := unlockScript.Run(ctx, l.c.rdb, []string{key}, token).Err()
			if err = l.c.done(ctx, err); err != nil {
				// The lock expires on its own after its TTL.
				l.c.log.Warn("could not release a create lock; it expires on its own", "ttl", l.ttl, "err", err)
			}
		})
	}
}

// renew keeps the lock while its holder lives: a replica that dies stops renewing, and its
// lock lapses after TTL. A failed renewal (Redis away) is retried at the next tick; a lock
// found taken by another token was lost, and renewal stops.
func (l *Locker) renew(key, token string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if l.c.ready() != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		n, err := renewScript.Run(ctx, l.c.rdb, []string{key}, token, l.ttl.Milliseconds()).Int()
		err = l.c.done(ctx, err)
		cancel()
		if err == nil && n == 0 {
			l.c.log.Warn("a create lock lapsed before its create ended (Redis was away longer than --lock-ttl?)", "ttl", l.ttl)
			return
		}
	}
}
