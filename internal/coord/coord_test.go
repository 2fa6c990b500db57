package coord

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/internal/redistest"
)

// replicas opens n clients on one Redis, as n replicas would.
func replicas(t *testing.T, srv *redistest.Server, n int) []*Client {
	t.Helper()
	cs := make([]*Client, n)
	for i := range cs {
		c, err := Open(t.Context(), srv.URL(), Options{RetryAfter: 100 * time.Millisecond})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return cs
}

// raw is a plain client to look at what the package stored.
func raw(t *testing.T, srv *redistest.Server) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// dump returns every key and string value in Redis, to check nothing secret was stored.
func dump(t *testing.T, rdb *redis.Client) string {
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\n")
		if typ := rdb.Type(ctx, k).Val(); typ == "string" {
			b.WriteString(rdb.Get(ctx, k).Val() + "\n")
		} else if typ == "zset" {
			b.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), "\n") + "\n")
		}
	}
	return b.String()
}

func TestOpen_BadURLIsClearAndHidesPassword(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), "redis://user:hunter2hunter2@[::1/0", Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--redis-url: expected redis://")
	assert.NotContains(t, err.Error(), "hunter2hunter2")
}

func TestLocker_OneHolderAtATimeAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var lockers []*Locker
	for _, c := range replicas(t, srv, 3) {
		lockers = append(lockers, c.NewLocker(LockOptions{PollMin: time.Millisecond, PollMax: 20 * time.Millisecond}))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	var holders, most, done atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			unlock, err := lockers[i%3].Lock(ctx, "create-api-key\x00ci-deployer")
			if !assert.NoError(t, err) {
				return
			}
			n := holders.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(time.Millisecond) // hold it long enough for others to try
			holders.Add(-1)
			done.Add(1)
			unlock()
			unlock() // twice is harmless
		})
	}
	wg.Wait()
	assert.EqualValues(t, 30, done.Load(), "every caller got the lock in turn")
	assert.EqualValues(t, 1, most.Load(), "never more than one holder")
	// Released: nothing left behind, and the name is not in Redis.
	assert.Empty(t, raw(t, srv).Keys(t.Context(), "*").Val())
}

func TestLocker_ReleasedByItsOwnerOnly(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs := replicas(t, srv, 2)
	a, b := cs[0].NewLocker(LockOptions{}), cs[1].NewLocker(LockOptions{})
	rdb := raw(t, srv)

	unlockA, err := a.Lock(t.Context(), "create-api-key\x00ci-deployer")
	require.NoError(t, err)
	held := dump(t, rdb)
	assert.NotContains(t, held, "ci-deployer", "the name is stored as a digest")
	ttl := rdb.PTTL(t.Context(), a.c.key("lock", "create-api-key\x00ci-deployer")).Val()
	assert.Greater(t, ttl, DefaultLockTTL-5*time.Second, "a lock outlives its holder by its TTL only")
	assert.LessOrEqual(t, ttl, DefaultLockTTL)
	// A's lock expires (simulated by deleting it) and B takes the name.
	require.NoError(t, rdb.FlushAll(t.Context()).Err())
	unlockB, err := b.Lock(t.Context(), "create-api-key\x00ci-deployer")
	require.NoError(t, err)

	unlockA() // A's late release must not free B's lock
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = a.Lock(ctx, "create-api-key\x00ci-deployer")
	require.Error(t, err, "B still holds the name")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for the create lock")

	unlockB()
	unlock, err := a.Lock(t.Context(), "create-api-key\x00ci-deployer")
	require.NoError(t, err)
	unlock()
}

// TestLocker_RenewedWhileHeldLapsesWhenHolderDies: a live holder keeps its lock past the
// TTL; a holder that stops renewing (a replica killed mid-create) frees the name after it.
func TestLocker_RenewedWhileHeldLapsesWhenHolderDies(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs := replicas(t, srv, 2)
	const ttl = 300 * time.Millisecond
	a, b := cs[0].NewLocker(LockOptions{TTL: ttl}), cs[1].NewLocker(LockOptions{TTL: ttl})
	rdb := raw(t, srv)
	key := a.c.key("lock", "n")

	unlock, err := a.Lock(t.Context(), "n")
	require.NoError(t, err)
	time.Sleep(3 * ttl) // bounded: three TTLs, so the lock lives only by its renewals
	ctx, cancel := context.WithTimeout(t.Context(), ttl/3)
	_, err = b.Lock(ctx, "n")
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a held lock is renewed past its TTL")
	unlock()

	// A holder that dies: its token stays in Redis with no one to renew it.
	require.NoError(t, rdb.Set(t.Context(), key, "dead-replica-token", ttl).Err())
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	unlockB, err := b.Lock(ctx, "n")
	require.NoError(t, err, "the dead holder's lock lapses after its TTL")
	unlockB()
}

func TestLocker_WaitHonoursCancel(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l := replicas(t, srv, 1)[0].NewLocker(LockOptions{})
	unlock, err := l.Lock(t.Context(), "n")
	require.NoError(t, err)
	defer unlock()

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := l.Lock(ctx, "n"); errc <- err }()
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Lock did not return after its context was cancelled")
	}
}

func TestLimiter_BudgetSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const rate, burst = 10.0, 20
	var lims []*Limiter
	for _, c := range replicas(t, srv, 3) {
		l, err := c.NewLimiter(LimiterOptions{Name: "credential", Rate: rate, Burst: burst, Replicas: 3})
		require.NoError(t, err)
		lims = append(lims, l)
	}
	const credential = "EXOcafe0123456789abcdef01"

	var granted, refused atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for _, l := range lims {
		wg.Go(func() {
			for range 100 { // bounded: 300 tries in all over about 0.5 s
				ok, retry := l.Allow(t.Context(), credential)
				if ok {
					granted.Add(1)
				} else {
					refused.Add(1)
					assert.Positive(t, retry, "a refusal says when to retry")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	most := burst + int64(rate*elapsed.Seconds()) + 1
	t.Logf("granted %d of 300 in %v across 3 replicas (burst %d + %v/s allows at most %d)", granted.Load(), elapsed, burst, rate, most)
	assert.GreaterOrEqual(t, granted.Load(), int64(burst), "the burst is granted")
	assert.LessOrEqual(t, granted.Load(), most, "the replicas share one budget")
	assert.Positive(t, refused.Load())

	// Another credential has its own budget.
	ok, _ := lims[0].Allow(t.Context(), "EXOother")
	assert.True(t, ok)
	// The credential is in Redis only as a digest.
	assert.NotContains(t, dump(t, raw(t, srv)), "EXO")
}

func TestLimiter_ZeroRateIsUnlimited(t *testing.T) {
	t.Parallel()
	c, err := New("redis://127.0.0.1:1", Options{}) // never dialled
	require.NoError(t, err)
	defer c.Close()
	l, err := c.NewLimiter(LimiterOptions{Name: "overall"})
	require.NoError(t, err)
	for range 1000 {
		ok, _ := l.Allow(t.Context(), "k")
		require.True(t, ok)
	}
}

func TestNonceStore_ConsumedOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var stores []*NonceStore
	for _, c := range replicas(t, srv, 3) {
		stores = append(stores, c.NewNonceStore())
	}
	expiry := time.Now().Add(5 * time.Minute)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			ok, err := stores[i%3].Consume(t.Context(), "nonce-1", expiry)
			assert.NoError(t, err)
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, fresh.Load(), "one answer counts once")

	ok, err := stores[0].Consume(t.Context(), "nonce-2", expiry)
	require.NoError(t, err)
	assert.True(t, ok, "another nonce is fresh")
	ok, err = stores[1].Consume(t.Context(), "nonce-3", time.Now().Add(-time.Second))
	require.NoError(t, err)
	assert.False(t, ok, "an expired nonce is never fresh")

	rdb := raw(t, srv)
	assert.NotContains(t, dump(t, rdb), "nonce-")
	ttl := rdb.TTL(t.Context(), stores[0].c.key("nonce", "nonce-1")).Val()
	assert.Greater(t, ttl, 4*time.Minute, "kept until the state it guards expires")
	assert.LessOrEqual(t, ttl, 5*time.Minute+2*time.Second)
}

func TestSessionCounter_CapAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var counters []*SessionCounter
	for _, c := range replicas(t, srv, 3) {
		sc := c.NewSessionCounter(SessionOptions{Cap: 5, Replicas: 3})
		t.Cleanup(sc.Close)
		counters = append(counters, sc)
	}
	var mu sync.Mutex
	var releases []func()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			release, ok, err := counters[i%3].Acquire(t.Context())
			assert.NoError(t, err)
			if ok {
				mu.Lock()
				releases = append(releases, release)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, releases, 5, "the cap holds across replicas")
	live, err := counters[0].Live(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 5, live)

	_, ok, err := counters[1].Acquire(t.Context())
	require.NoError(t, err)
	assert.False(t, ok, "full")
	releases[0]()
	releases[0]() // twice is harmless
	release, ok, err := counters[2].Acquire(t.Context())
	require.NoError(t, err)
	assert.True(t, ok, "a released session frees a place on any replica")
	release()
}

func TestSessionCounter_DeadReplicaAgesOut(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cs := replicas(t, srv, 2)
	dead := cs[0].NewSessionCounter(SessionOptions{Cap: 2, TTL: 2 * time.Second})
	for range 2 {
		_, ok, err := dead.Acquire(t.Context())
		require.NoError(t, err)
		require.True(t, ok)
	}
	dead.Close() // the replica dies holding both sessions: no more refreshes

	alive := cs[1].NewSessionCounter(SessionOptions{Cap: 2, TTL: 2 * time.Second})
	defer alive.Close()
	_, ok, err := alive.Acquire(t.Context())
	require.NoError(t, err)
	require.False(t, ok, "the dead replica's sessions count until they expire")
	require.Eventually(t, func() bool {
		_, ok, err := alive.Acquire(t.Context())
		return err == nil && ok
	}, 10*time.Second, 50*time.Millisecond, "the dead replica's sessions age out")
}

func TestSessionCounter_RefreshKeepsLiveSessions(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := replicas(t, srv, 1)[0]
	sc := c.NewSessionCounter(SessionOptions{Cap: 1, TTL: 600 * time.Millisecond})
	defer sc.Close()
	release, ok, err := sc.Acquire(t.Context())
	require.NoError(t, err)
	require.True(t, ok)
	defer release()
	// Over several TTLs the live session keeps its place (bounded loop, counts only).
	for range 8 {
		time.Sleep(200 * time.Millisecond)
		_, ok, err := sc.Acquire(t.Context())
		require.NoError(t, err)
		require.False(t, ok, "a session whose replica lives keeps counting")
	}
}

// TestRedisDown_DegradesThenRecovers stops redis-server mid-test and starts it again: Lock and
// Consume refuse with the clear error, the limiter grants this replica's share, sessions count
// locally, and everything is shared again once Redis is back, without a new client.
func TestRedisDown_DegradesThenRecovers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := replicas(t, srv, 1)[0]
	locker := c.NewLocker(LockOptions{})
	nonces := c.NewNonceStore()
	const rate, burst, n = 3.0, 30, 3
	lim, err := c.NewLimiter(LimiterOptions{Name: "credential", Rate: rate, Burst: burst, Replicas: n})
	require.NoError(t, err)
	sessions := c.NewSessionCounter(SessionOptions{Cap: 6, Replicas: n})
	defer sessions.Close()

	unlock, err := locker.Lock(t.Context(), "before")
	require.NoError(t, err)
	unlock()
	require.True(t, c.Available())

	srv.Stop()

	_, err = locker.Lock(t.Context(), "during")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.True(t, strings.HasPrefix(err.Error(), "the server cannot coordinate with its other replicas: "), err.Error())
	assert.False(t, c.Available())

	_, err = nonces.Consume(t.Context(), "n", time.Now().Add(time.Minute))
	assert.ErrorIs(t, err, ErrUnavailable, "no confirmation counts without the shared nonce store")

	// The limiter falls back to this replica's share: burst/N at once.
	start := time.Now()
	granted := 0
	for range 50 {
		if ok, _ := lim.Allow(t.Context(), "cred"); ok {
			granted++
		}
	}
	most := burst/n + int(rate/n*time.Since(start).Seconds()) + 1
	t.Logf("without redis: granted %d of 50 (share: burst %d)", granted, burst/n)
	assert.GreaterOrEqual(t, granted, burst/n)
	assert.LessOrEqual(t, granted, most)

	// Sessions: this replica's share of the cap.
	admitted := 0
	for range 5 {
		if _, ok, err := sessions.Acquire(t.Context()); err == nil && ok {
			admitted++
		}
	}
	assert.Equal(t, 2, admitted, "cap 6 over 3 replicas")

	srv.Start()

	var unlock2 func()
	require.Eventually(t, func() bool {
		unlock2, err = locker.Lock(t.Context(), "after")
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the client reconnects on its own")
	unlock2()
	assert.True(t, c.Available())

	ok, err := nonces.Consume(t.Context(), "n", time.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, ok)

	// The limiter is shared again: its bucket is in Redis.
	ok, _ = lim.Allow(t.Context(), "cred")
	assert.True(t, ok, "a fresh shared bucket grants")
	assert.EqualValues(t, 1, raw(t, srv).Exists(t.Context(), lim.c.key("rl:credential", "cred")).Val())
}

func TestErrUnavailable_Text(t *testing.T) {
	t.Parallel()
	c, err := New("redis://:s3cr3tpassw0rd@127.0.0.1:1/0", Options{})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.NewLocker(LockOptions{}).Lock(t.Context(), "x")
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUnavailable))
	assert.True(t, strings.HasPrefix(err.Error(), "the server cannot coordinate with its other replicas: redis at 127.0.0.1:1: "), err.Error())
	assert.NotContains(t, err.Error(), "s3cr3tpassw0rd")
}
