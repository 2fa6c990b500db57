package httpserve

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSessionIDs_ForgetEndedSessions: ended sessions leave nothing behind (mcp-go's own
// manager keeps a tombstone per session forever), and stay unknown.
func TestSessionIDs_ForgetEndedSessions(t *testing.T) {
	t.Parallel()
	m := &sessionIDs{}
	var ids []string
	for range 100 {
		ids = append(ids, m.Generate())
	}
	assert.Equal(t, 100, m.count())
	for _, id := range ids {
		terminated, err := m.Validate(id)
		require.NoError(t, err)
		assert.False(t, terminated)
		_, err = m.Terminate(id)
		require.NoError(t, err)
		_, err = m.Validate(id)
		assert.Error(t, err)
	}
	assert.Zero(t, m.count())
}

func (m *sessionIDs) count() int {
	n := 0
	m.live.Range(func(any, any) bool { n++; return true })
	return n
}

// TestSessions_UnknownOrForeignIs404: an id that is not live, or (multi-tenant) that another
// credential started, is answered as if it never existed.
func TestSessions_UnknownOrForeignIs404(t *testing.T) {
	t.Parallel()
	ids := &sessionIDs{}
	id := ids.Generate()
	owner := req(http.MethodPost, pingBody, headerKey, "EXOa", headerSecret, "a")
	ids.claim(id, credentialTag(owner))
	h := sessions(ids, true, &ok{})

	owner.Header.Set(headerSession, id)
	assert.Equal(t, http.StatusOK, serve(h, owner).Code)
	for name, r := range map[string]*http.Request{
		"unknown id":   req(http.MethodPost, pingBody, headerSession, "mcp-session-00000000-0000-4000-8000-000000000000", headerKey, "EXOa", headerSecret, "a"),
		"other tenant": req(http.MethodPost, pingBody, headerSession, id, headerKey, "EXOb", headerSecret, "b"),
		"wrong secret": req(http.MethodDelete, "", headerSession, id, headerKey, "EXOa", headerSecret, "b"),
	} {
		assert.Equal(t, http.StatusNotFound, serve(h, r).Code, name)
	}
}

// TestSessionCap_InitializeWithASessionHeaderCounts: an initialize that carries a live
// Mcp-Session-Id still makes mcp-go mint a session, so it counts against the cap like any other:
// 50 of them past --max-sessions 3 start no more than 3 sessions.
func TestSessionCap_InitializeWithASessionHeaderCounts(t *testing.T) {
	t.Parallel()
	h, s := endpoint(t, "", "--max-sessions", "3")
	first := serve(h, req(http.MethodPost, initializeBody()))
	require.Equal(t, http.StatusOK, first.Code, first.Body.String())
	id := first.Header().Get(headerSession)
	require.NotEmpty(t, id)

	codes := map[int]int{}
	for range 50 {
		codes[serve(h, req(http.MethodPost, initializeBody(), headerSession, id, "Mcp-Protocol-Version", sessionProtocol)).Code]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 2, http.StatusServiceUnavailable: 48}, codes)
	assert.Equal(t, 3, s.ids.count(), "no session beyond the cap was minted")
	s.cap.mu.Lock()
	defer s.cap.mu.Unlock()
	assert.Equal(t, 3, s.cap.live)
	assert.Zero(t, s.cap.pending)
}

// TestSessionCap_HoldsUnderConcurrency: simultaneous initializes never overshoot the cap.
func TestSessionCap_HoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	h, _ := endpoint(t, "", "--max-sessions", "3")
	const n = 12
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { codes <- serve(h, req(http.MethodPost, initializeBody())).Code })
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 3, http.StatusServiceUnavailable: n - 3}, count)
}

// TestSessions_GETWithoutSessionMintsNothing: mcp-go would mint and register a session for a
// listening stream without Mcp-Session-Id, one nobody initialized; it is refused instead.
func TestSessions_GETWithoutSessionMintsNothing(t *testing.T) {
	t.Parallel()
	h, s := endpoint(t, "", "--max-sessions", "3")
	for range 10 {
		w := serve(h, req(http.MethodGet, "", "Accept", "text/event-stream", "Mcp-Protocol-Version", sessionProtocol))
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), "Mcp-Session-Id")
		assert.Empty(t, w.Header().Get(headerSession))
	}
	assert.Zero(t, s.ids.count())
}
