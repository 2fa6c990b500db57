package httpserve

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A rate that refills nothing while a test runs.
const frozen = 0.001

// TestRateLimit_FloodingSessionDoesNotStarveOthers: session A floods until it is refused; its
// refused requests spend nothing of the overall budget, so session B's next call is served.
// (The hand-written limiter took the overall token first: A's flood refused B too.)
func TestRateLimit_FloodingSessionDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	ls := NewLimiters(Limits{Rate: frozen, Burst: 10, SessionRate: frozen, SessionBurst: 3})
	next := &ok{}
	h := rateLimit(ls, nil, false, next)
	codes := map[int]int{}
	for range 50 {
		codes[serve(h, req(http.MethodPost, pingBody, headerSession, "session-a")).Code]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 3, http.StatusTooManyRequests: 47}, codes)
	w := serve(h, req(http.MethodPost, pingBody, headerSession, "session-b"))
	assert.Equal(t, http.StatusOK, w.Code, "session B is served after A's flood")
	assert.Equal(t, 4, next.calls)
}

// TestRateLimit_OverallStillHolds: past the server-wide budget everyone gets 429 with a
// Retry-After that says when a call is allowed again, not a fixed second.
func TestRateLimit_OverallStillHolds(t *testing.T) {
	t.Parallel()
	h := rateLimit(NewLimiters(Limits{Rate: frozen, Burst: 5, SessionRate: 100, SessionBurst: 100}), nil, false, &ok{})
	for i := range 5 {
		require.Equal(t, http.StatusOK, serve(h, req(http.MethodPost, pingBody, headerSession, fmt.Sprint("s", i))).Code)
	}
	for _, hdr := range [][]string{nil, {headerSession, "fresh"}} {
		w := serve(h, req(http.MethodPost, pingBody, hdr...))
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Contains(t, w.Body.String(), "rate limit")
		n, err := strconv.Atoi(w.Header().Get("Retry-After"))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, 2)
	}
}

// TestRateLimit_MadeUpCredentialsCannotDrainTheOverallBudget: in multi-tenant mode 150
// requests with made-up credentials from one address take at most that address's budget, and a
// real tenant calling from elsewhere is served.
func TestRateLimit_MadeUpCredentialsCannotDrainTheOverallBudget(t *testing.T) {
	t.Parallel()
	ls := NewLimiters(Limits{Rate: frozen, Burst: 40, SessionRate: frozen, SessionBurst: 2, AddressRate: frozen, AddressBurst: 10})
	next := &ok{}
	h := rateLimit(ls, nil, true, next)
	served := 0
	for i := range 150 {
		r := req(http.MethodPost, pingBody, headerKey, fmt.Sprintf("EXOfake%03d", i), headerSecret, "made-up")
		r.RemoteAddr = "192.0.2.66:5555"
		if serve(h, r).Code == http.StatusOK {
			served++
		}
	}
	assert.Equal(t, 10, served, "one address gets its own budget, no more")
	for i := range 2 {
		r := req(http.MethodPost, pingBody, headerKey, "EXOrealtenant", headerSecret, "real-secret")
		r.RemoteAddr = "198.51.100.7:6000"
		assert.Equal(t, http.StatusOK, serve(h, r).Code, "the real tenant's call %d", i)
	}
	// Without the per-address budget the made-up credentials would have drained it.
	ls.Address = nil
	h = rateLimit(ls, nil, true, next)
	for i := range 150 {
		r := req(http.MethodPost, pingBody, headerKey, fmt.Sprintf("EXOmore%03d", i), headerSecret, "made-up")
		serve(h, r)
	}
	r := req(http.MethodPost, pingBody, headerKey, "EXOrealtenant2", headerSecret, "real-secret")
	assert.Equal(t, http.StatusTooManyRequests, serve(h, r).Code, "the scenario the address budget prevents")
}
