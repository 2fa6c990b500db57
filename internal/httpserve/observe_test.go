package httpserve

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedCount stands in for a session count kept across replicas (coord.SessionCounter).
type sharedCount struct {
	mu        sync.Mutex
	max, live int
}

func (c *sharedCount) Acquire(context.Context) (func(), bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live >= c.max {
		return nil, false, nil
	}
	c.live++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.live--
			c.mu.Unlock()
		})
	}, true, nil
}

func (c *sharedCount) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

type countingObserver struct {
	mu             sync.Mutex
	limited        map[string]int
	opened, closed int
}

func (o *countingObserver) RateLimited(scope string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.limited == nil {
		o.limited = map[string]int{}
	}
	o.limited[scope]++
}
func (o *countingObserver) SessionOpened() { o.mu.Lock(); o.opened++; o.mu.Unlock() }
func (o *countingObserver) SessionClosed() { o.mu.Lock(); o.closed++; o.mu.Unlock() }

// replicaEndpoint is endpoint with a shared session count and an observer plugged in, as main
// wires them with --redis-url and --metrics-listen.
func replicaEndpoint(t *testing.T, shared SessionCounter, obs Observer, args ...string) http.Handler {
	t.Helper()
	s, err := New(defaults(t, args...), "")
	require.NoError(t, err)
	s.Sessions, s.Observer = shared, obs
	hs, shutdown := s.newHTTPServer(discardLog(), server.NewMCPServer("test", "1", s.ServerOptions()...))
	t.Cleanup(func() { shutdown(context.Background()) })
	return hs.Handler
}

// TestSessionCap_SharedAcrossReplicas: with a shared count, a replica refuses an initialize
// once the sessions of all replicas reach the cap, and a session ended on another replica
// frees its place.
func TestSessionCap_SharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	shared := &sharedCount{max: 2}
	obsA := &countingObserver{}
	a := replicaEndpoint(t, shared, obsA)
	b := replicaEndpoint(t, shared, nil)

	first := serve(a, req(http.MethodPost, initializeBody()))
	require.Equal(t, http.StatusOK, first.Code, first.Body.String())
	require.Equal(t, http.StatusOK, serve(b, req(http.MethodPost, initializeBody())).Code)
	assert.Equal(t, 2, shared.count(), "each live session holds a place in the shared count")

	refused := serve(b, req(http.MethodPost, initializeBody()))
	assert.Equal(t, http.StatusServiceUnavailable, refused.Code, "replica B's own count is 1, but the shared one is full")
	assert.Equal(t, 2, shared.count(), "a refused initialize holds nothing")

	id := first.Header().Get(headerSession)
	require.NotEmpty(t, id)
	require.Equal(t, http.StatusOK, serve(a, req(http.MethodDelete, "", headerSession, id, "Mcp-Protocol-Version", sessionProtocol)).Code)
	assert.Equal(t, 1, shared.count(), "ending a session frees its shared place")
	assert.Equal(t, http.StatusOK, serve(b, req(http.MethodPost, initializeBody())).Code)

	obsA.mu.Lock()
	defer obsA.mu.Unlock()
	assert.Equal(t, 1, obsA.opened)
	assert.Equal(t, 1, obsA.closed)
}

// TestRateLimit_ObserverHearsTheScope: a refusal is reported with the scope of the budget
// that refused it, and nothing about the caller.
func TestRateLimit_ObserverHearsTheScope(t *testing.T) {
	t.Parallel()
	obs := &countingObserver{}
	h := replicaEndpoint(t, nil, obs, "--rate", "0.001", "--burst", "1")
	assert.Equal(t, http.StatusOK, serve(h, req(http.MethodPost, initializeBody())).Code)
	assert.Equal(t, http.StatusTooManyRequests, serve(h, req(http.MethodPost, initializeBody())).Code)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	assert.Equal(t, map[string]int{ScopeOverall: 1}, obs.limited)
}
