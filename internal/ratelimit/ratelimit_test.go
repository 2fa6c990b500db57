package ratelimit

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frozen is a rate so slow that no token comes back during a test.
const frozen = 0.001

// TestLocal_BoundedKeysLeastRecentlyUsedForgotten: made-up keys cost bounded memory;
// the key forgotten is the least recently used, and a key in use keeps what it spent.
func TestLocal_BoundedKeysLeastRecentlyUsedForgotten(t *testing.T) {
	t.Parallel()
	l := NewLocal(frozen, 1, 3)
	ctx := t.Context()
	allowed := func(key string) bool { ok, _ := l.Allow(ctx, key); return ok }
	assert.True(t, allowed("busy"))
	assert.False(t, allowed("busy"), "busy spent its burst of 1")
	for i := range 100 {
		assert.True(t, allowed(fmt.Sprint("made-up-", i)), "a new key has a full budget")
		assert.False(t, allowed("busy"), "busy, used all along, is never forgotten: its budget is not reset")
	}
	assert.Equal(t, 3, l.size())
	assert.True(t, allowed("made-up-0"), "an evicted key comes back with a full budget")
}

// TestLocal_RefusalSpendsNothing: a refused request gives its reservation back.
func TestLocal_RefusalSpendsNothing(t *testing.T) {
	t.Parallel()
	l := NewLocal(frozen, 2, 10)
	ctx := t.Context()
	ok1, _ := l.Allow(ctx, "k")
	ok2, _ := l.Allow(ctx, "k")
	require.True(t, ok1 && ok2)
	before := l.bucket("k").Tokens()
	for range 100 {
		ok, wait := l.Allow(ctx, "k")
		require.False(t, ok)
		require.Positive(t, wait)
	}
	assert.InDelta(t, before, l.bucket("k").Tokens(), 0.01, "refusals left the bucket as it was")
	unlimited := NewLocal(0, 0, 1)
	for range 1000 {
		ok, _ := unlimited.Allow(ctx, "k")
		require.True(t, ok)
	}
}
