package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Operation states.
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
	StateTimeout = "timeout"
)

// Default cadence of Wait, as the official clients poll.
const (
	DefaultPollFirst        = 500 * time.Millisecond
	DefaultPollInterval     = 3 * time.Second
	DefaultPollSlowAfter    = 30 * time.Second
	DefaultPollSlowInterval = 10 * time.Second
	DefaultPollMax          = 60 * time.Second
	DefaultPollMaxErrors    = 5
)

// Reference points at the object an operation acted on (create-iam-role: the new role).
type Reference struct {
	ID      string `json:"id,omitempty"`
	Link    string `json:"link,omitempty"`
	Command string `json:"command,omitempty"`
}

// Operation is an asynchronous operation object, as returned by writes and GET /operation/{id}.
type Operation struct {
	ID        string     `json:"id"`
	State     string     `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	Message   string     `json:"message,omitempty"`
	Reference *Reference `json:"reference,omitempty"`
}

func (p PollConfig) withDefaults() PollConfig {
	p.First = orDefault(p.First, DefaultPollFirst)
	p.Interval = orDefault(p.Interval, DefaultPollInterval)
	p.SlowAfter = orDefault(p.SlowAfter, DefaultPollSlowAfter)
	p.SlowInterval = orDefault(p.SlowInterval, DefaultPollSlowInterval)
	p.Max = orDefault(p.Max, DefaultPollMax)
	if p.MaxErrors <= 0 {
		p.MaxErrors = DefaultPollMaxErrors
	}
	return p
}

// cadence yields the waits between polls: First, then Interval until SlowAfter has elapsed,
// then SlowInterval growing by half each time, all capped at Max.
type cadence struct {
	cfg  PollConfig
	slow time.Duration // current slow interval, 0 until the slow phase starts
}

func (c *cadence) next(poll int, elapsed time.Duration) time.Duration {
	var d time.Duration
	switch {
	case poll == 0:
		d = c.cfg.First
	case elapsed < c.cfg.SlowAfter:
		d = c.cfg.Interval
	case c.slow == 0:
		c.slow = c.cfg.SlowInterval
		d = c.slow
	default:
		c.slow += c.slow / 2
		d = c.slow
	}
	if d > c.cfg.Max {
		d = c.cfg.Max
		c.slow = c.cfg.Max
	}
	return d
}

// Wait polls GET /operation/{id} until the state is no longer pending. progress (may be nil) is
// called after every successful poll with the poll count (1-based, failed polls included) and
// the operation as polled. An op already not pending returns at once (an empty state counts
// as pending). success → (op, nil); failure/timeout → (op, *OperationError); any other state
// is an error.
//
// Polling stops when ctx is done, after Poll.MaxErrors consecutive polling errors, or at once
// on 401/403 (a key without permission for get-operation will not gain it by waiting). On any
// error the returned operation is the last one known, never nil when op was not.
func (c *Client) Wait(ctx context.Context, op *Operation, progress func(poll int, op *Operation)) (*Operation, error) {
	if op == nil {
		return nil, errors.New("wait: no operation")
	}
	if done, err := finished(op); done {
		return op, err
	}
	if op.ID == "" {
		return op, errors.New("wait: the operation has no id")
	}

	last := op
	start := time.Now()
	cad := cadence{cfg: c.poll}
	consecutive := 0
	var lastErr error
	for poll := 0; ; poll++ {
		wait := cad.next(poll, time.Since(start))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, fmt.Errorf("waiting for operation %s: %w", op.ID, ctx.Err())
		case <-t.C:
		}

		polled, err := c.getOperation(ctx, op.ID)
		if err != nil {
			if ctx.Err() != nil {
				return last, fmt.Errorf("waiting for operation %s: %w", op.ID, ctx.Err())
			}
			var apiErr *Error
			if errors.As(err, &apiErr) && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden) {
				return last, fmt.Errorf("waiting for operation %s (the key needs permission for get-operation): %w", op.ID, err)
			}
			consecutive++
			lastErr = err
			c.log.DebugContext(ctx, "exoscale operation poll failed", "operation_id", op.ID, "poll", poll+1, "consecutive_errors", consecutive, "error", err)
			if consecutive >= c.poll.MaxErrors {
				return last, fmt.Errorf("waiting for operation %s: giving up after %d consecutive polling errors: %w", op.ID, consecutive, lastErr)
			}
			continue
		}
		consecutive = 0
		last = polled
		if progress != nil {
			progress(poll+1, polled)
		}
		if done, err := finished(polled); done {
			return polled, err
		}
	}
}

// finished reports whether op is in a final state, and the error that state means.
func finished(op *Operation) (bool, error) {
	switch op.State {
	case StatePending, "":
		return false, nil
	case StateSuccess:
		return true, nil
	case StateFailure, StateTimeout:
		return true, &OperationError{Operation: op}
	default:
		return true, fmt.Errorf("operation %s: unknown state %q", oneLine(op.ID, 64), oneLine(op.State, 32))
	}
}

// getOperation polls one operation; an answer that is not an operation counts as an error.
func (c *Client) getOperation(ctx context.Context, id string) (*Operation, error) {
	resp, err := c.Do(ctx, Request{
		Operation: "get-operation",
		Method:    http.MethodGet,
		Path:      "/operation/" + url.PathEscape(id),
	})
	if err != nil {
		return nil, err
	}
	var op Operation
	if err := json.Unmarshal(resp.Body, &op); err != nil {
		return nil, fmt.Errorf("get-operation: the answer is not an operation: %w", err)
	}
	if op.State == "" {
		return nil, errors.New("get-operation: the answer has no state")
	}
	if op.ID == "" {
		op.ID = id
	}
	return &op, nil
}
