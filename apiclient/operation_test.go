package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// opServer answers GET /v2/operation/{id} with the states given, one per poll (the last one
// repeats). A state "err:<status>" answers that status instead.
func opServer(t *testing.T, states ...string) *server {
	t.Helper()
	return newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if !assert.True(t, strings.HasPrefix(r.URL.Path, "/v2/operation/"), r.URL.Path) || !assert.Equal(t, "GET", r.Method) {
			w.WriteHeader(404)
			return
		}
		state := states[min(n, len(states))-1]
		if code, ok := strings.CutPrefix(state, "err:"); ok {
			w.WriteHeader(map[string]int{"500": 500, "403": 403, "404": 404, "bad": 200}[code])
			if code == "bad" {
				_, _ = w.Write([]byte("not json"))
			}
			return
		}
		op := Operation{ID: strings.TrimPrefix(r.URL.Path, "/v2/operation/"), State: state}
		if state == StateFailure {
			op.Reason, op.Message = "forbidden", "Forbidden by role policy for iam"
		}
		if state == StateTimeout {
			op.Reason = "unavailable"
		}
		if state == StateSuccess {
			op.Reference = &Reference{ID: "6a3c5a77-1b1e-4f57-9d2e-0b8e5c6f8a11", Link: "/v2/iam-role/6a3c5a77-1b1e-4f57-9d2e-0b8e5c6f8a11", Command: "get-iam-role"}
		}
		_ = json.NewEncoder(w).Encode(op)
	})
}

func TestWait_PollsUntilSuccessReportingProgress(t *testing.T) {
	t.Parallel()
	srv := opServer(t, StatePending, StatePending, StateSuccess)
	c := newTestClient(t, srv.endpoint())
	var polls []int
	var states []string
	op, err := c.Wait(context.Background(), &Operation{ID: "op-1", State: StatePending}, func(poll int, op *Operation) {
		polls = append(polls, poll)
		states = append(states, op.State)
	})
	require.NoError(t, err)
	assert.Equal(t, StateSuccess, op.State)
	require.NotNil(t, op.Reference)
	assert.Equal(t, "6a3c5a77-1b1e-4f57-9d2e-0b8e5c6f8a11", op.Reference.ID)
	assert.Equal(t, []int{1, 2, 3}, polls)
	assert.Equal(t, []string{StatePending, StatePending, StateSuccess}, states)
	assert.Equal(t, 3, srv.count())
}

func TestWait_FinalFailureOrTimeoutIsOperationError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		state, reason, message, text string
	}{
		{StateFailure, "forbidden", "Forbidden by role policy for iam", "operation op-1 failed (forbidden): Forbidden by role policy for iam"},
		{StateTimeout, "unavailable", "", "operation op-1 timed out (unavailable)"},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			t.Parallel()
			srv := opServer(t, StatePending, tt.state)
			c := newTestClient(t, srv.endpoint())
			op, err := c.Wait(context.Background(), &Operation{ID: "op-1", State: StatePending}, nil)
			var opErr *OperationError
			require.ErrorAs(t, err, &opErr)
			require.NotNil(t, op)
			assert.Same(t, op, opErr.Operation)
			assert.Equal(t, tt.state, op.State)
			assert.Equal(t, tt.reason, op.Reason)
			assert.Equal(t, tt.message, op.Message)
			assert.Equal(t, tt.text, err.Error())
		})
	}
}

func TestWait_OperationAlreadyFinalReturnsWithoutPolling(t *testing.T) {
	t.Parallel()
	srv := opServer(t, StatePending)
	c := newTestClient(t, srv.endpoint())

	done := &Operation{ID: "op-1", State: StateSuccess}
	op, err := c.Wait(context.Background(), done, func(int, *Operation) { t.Error("no poll expected") })
	require.NoError(t, err)
	assert.Same(t, done, op)

	failed := &Operation{ID: "op-2", State: StateFailure, Reason: "conflict", Message: "name taken"}
	op, err = c.Wait(context.Background(), failed, nil)
	var opErr *OperationError
	require.ErrorAs(t, err, &opErr)
	assert.Same(t, failed, op)
	assert.Equal(t, 0, srv.count())
}

func TestWait_GivesUpAfterFiveConsecutivePollingErrors(t *testing.T) {
	t.Parallel()
	srv := opServer(t, "err:500")
	c := newTestClient(t, srv.endpoint())
	in := &Operation{ID: "op-1", State: StatePending}
	op, err := c.Wait(context.Background(), in, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "giving up after 5 consecutive polling errors")
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "get-operation", apiErr.Operation)
	assert.Same(t, in, op, "the last known operation comes back")
	assert.Equal(t, 5, srv.count())
}

func TestWait_SuccessfulPollResetsTheErrorCount(t *testing.T) {
	t.Parallel()
	srv := opServer(t, "err:500", "err:bad", "err:500", "err:500", StatePending, "err:500", "err:500", "err:500", "err:500", StateSuccess)
	c := newTestClient(t, srv.endpoint())
	var polls []int
	op, err := c.Wait(context.Background(), &Operation{ID: "op-1", State: StatePending}, func(poll int, _ *Operation) { polls = append(polls, poll) })
	require.NoError(t, err)
	assert.Equal(t, StateSuccess, op.State)
	assert.Equal(t, []int{5, 10}, polls, "progress is called for answered polls, numbered among all polls")
}

func TestWait_ForbiddenPollStopsAtOnce(t *testing.T) {
	t.Parallel()
	srv := opServer(t, "err:403")
	c := newTestClient(t, srv.endpoint())
	_, err := c.Wait(context.Background(), &Operation{ID: "op-1", State: StatePending}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "get-operation")
	assert.Equal(t, 1, srv.count())
}

func TestWait_StopsWhenContextIsCancelled(t *testing.T) {
	t.Parallel()
	srv := opServer(t, StatePending)
	c := newTestClient(t, srv.endpoint())
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	last := 0
	op, err := c.Wait(ctx, &Operation{ID: "op-1", State: StatePending}, func(poll int, _ *Operation) {
		mu.Lock()
		defer mu.Unlock()
		last = poll
		if poll == 3 {
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, op)
	assert.Equal(t, StatePending, op.State)
	assert.Equal(t, 3, last)
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, 3, srv.count(), "no poll after cancellation")

	// Cancelled while waiting for the first poll.
	c2 := newTestClient(t, srv.endpoint(), func(c *Config) { c.Poll.First, c.Poll.Max = time.Hour, time.Hour })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	_, err = c2.Wait(ctx2, &Operation{ID: "op-2", State: StatePending}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 3, srv.count())
}

func TestWait_SignsPollsWithContextCredentials(t *testing.T) {
	t.Parallel()
	tenant := Credentials{Key: "EXOtenant", Secret: "tenant-secret-value"}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		assert.NoError(t, verifySignature(r, nil, tenant))
		_, _ = w.Write([]byte(`{"id":"op-1","state":"success"}`))
	})
	c := newTestClient(t, srv.endpoint())
	_, err := c.Wait(WithCredentials(context.Background(), tenant), &Operation{ID: "op-1", State: StatePending}, nil)
	require.NoError(t, err)
}

func TestWait_RejectsMissingOperationOrUnknownState(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		_, _ = w.Write([]byte(`{"id":"op-1","state":"exploded"}`))
	})
	c := newTestClient(t, srv.endpoint())
	_, err := c.Wait(context.Background(), nil, nil)
	require.Error(t, err)
	_, err = c.Wait(context.Background(), &Operation{State: StatePending}, nil)
	require.Error(t, err)
	_, err = c.Wait(context.Background(), &Operation{ID: "op-1", State: StatePending}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown state "exploded"`)
	var opErr *OperationError
	assert.False(t, errors.As(err, &opErr))
}

func TestCadence_FollowsTheOfficialSchedule(t *testing.T) {
	t.Parallel()
	cad := cadence{cfg: PollConfig{}.withDefaults()}
	var elapsed time.Duration
	var got []time.Duration
	for poll := 0; poll < 20; poll++ {
		d := cad.next(poll, elapsed)
		got = append(got, d)
		elapsed += d
	}
	want := []time.Duration{
		500 * time.Millisecond, // first poll
		3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second,
		3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second, // until 30 s
		10 * time.Second, 15 * time.Second, 22500 * time.Millisecond, 33750 * time.Millisecond, 50625 * time.Millisecond,
		60 * time.Second, 60 * time.Second, 60 * time.Second, 60 * time.Second, // capped
	}
	assert.Equal(t, want, got)
}

func TestOperation_JSONFieldNames(t *testing.T) {
	t.Parallel()
	var op Operation
	require.NoError(t, json.Unmarshal([]byte(`{"id":"o","state":"failure","reason":"r","message":"m","reference":{"id":"i","link":"l","command":"c"}}`), &op))
	assert.Equal(t, Operation{ID: "o", State: "failure", Reason: "r", Message: "m", Reference: &Reference{ID: "i", Link: "l", Command: "c"}}, op)
	out, err := json.Marshal(Operation{ID: "o", State: "pending"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"o","state":"pending"}`, string(out))
}
