package apiclient

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recordingObserver struct {
	mu       sync.Mutex
	requests []string
	retries  []string
}

func (o *recordingObserver) Request(op string, status int, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, op+" "+http.StatusText(status))
}

func (o *recordingObserver) Retry(op, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries = append(o.retries, op+" "+reason)
}

// TestObserver_SeesEveryAttemptAndWhyItWasRetried: each attempt is reported with its status,
// each retry with its reason, by operation name only.
func TestObserver_SeesEveryAttemptAndWhyItWasRetried(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{"api-keys":[]}`))
		}
	})
	obs := &recordingObserver{}
	c := newTestClient(t, srv.endpoint(), func(cfg *Config) { cfg.Observer = obs })
	_, err := c.Do(context.Background(), Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
	require.NoError(t, err)
	assert.Equal(t, []string{"list-api-keys Too Many Requests", "list-api-keys Service Unavailable", "list-api-keys OK"}, obs.requests)
	assert.Equal(t, []string{"list-api-keys " + RetryRateLimited, "list-api-keys " + RetryServerError}, obs.retries)

	// No answer at all: status 0, and the retry's reason is the network.
	srv.Close()
	obs.requests, obs.retries = nil, nil
	_, err = c.Do(context.Background(), Request{Operation: "get-api-key", Method: "GET", Path: "/api-key/EXO1"})
	require.Error(t, err)
	assert.Contains(t, obs.requests, "get-api-key ", "status 0 has no text")
	assert.Contains(t, obs.retries, "get-api-key "+RetryNetwork)
}
