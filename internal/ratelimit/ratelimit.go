// Package ratelimit holds per-key token buckets in this process (golang.org/x/time/rate), for
// the HTTP layer's limits and for the share of a shared limit a replica keeps while Redis is
// away.
package ratelimit

import (
	"container/list"
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Local keeps one token bucket (golang.org/x/time/rate) per key in this process, at most
// maxKeys of them: past that the least recently used is forgotten, so a flood of made-up keys
// costs bounded memory, and a forgotten key starts again with a full burst. A rate ≤ 0 is no
// limit.
type Local struct {
	limit   rate.Limit
	burst   int
	maxKeys int

	mu   sync.Mutex
	keys map[string]*list.Element // of *keyed
	lru  list.List                // front: most recently used
}

type keyed struct {
	key string
	lim *rate.Limiter
}

// NewLocal allows perSecond requests a second per key, burst above that.
func NewLocal(perSecond float64, burst, maxKeys int) *Local {
	l := &Local{limit: rate.Limit(perSecond), burst: max(burst, 1), maxKeys: max(maxKeys, 1), keys: map[string]*list.Element{}}
	if perSecond <= 0 {
		l.limit = rate.Inf
	}
	return l
}

// Allow takes a token from key's bucket, or gives it back and says how long until one is there.
func (l *Local) Allow(_ context.Context, key string) (bool, time.Duration) {
	if l.limit == rate.Inf {
		return true, 0
	}
	lim := l.bucket(key)
	now := time.Now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *Local) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.keys[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*keyed).lim
	}
	for len(l.keys) >= l.maxKeys {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.keys, old.Value.(*keyed).key)
	}
	k := &keyed{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
	l.keys[key] = l.lru.PushFront(k)
	return k.lim
}

// size is the number of budgets held.
func (l *Local) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
