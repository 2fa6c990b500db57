package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNew_ValidatesEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		endpoint string
		ok       bool
		errHas   string
	}{
		{endpoint: "https://api-ch-gva-2.exoscale.com/v2", ok: true},
		{endpoint: "https://api-ch-gva-2.exoscale.com/v2/", ok: true},
		{endpoint: "http://127.0.0.1:8080/v2", ok: true},
		{endpoint: "http://localhost:8080/v2", ok: true},
		{endpoint: "http://[::1]:8080/v2", ok: true},
		{endpoint: "http://api-ch-gva-2.exoscale.com/v2", errHas: "loopback"},
		{endpoint: "http://10.0.0.1/v2", errHas: "loopback"},
		{endpoint: "ftp://example.com/v2", errHas: "https"},
		{endpoint: "", errHas: "required"},
		{endpoint: "https:///v2", errHas: "no host"},
		{endpoint: "https://api.example.com/v2?x=1", errHas: "query"},
		{endpoint: "https://user:hunter2-password@api.example.com/v2", errHas: "user info"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			t.Parallel()
			c, err := New(Config{Endpoint: tt.endpoint})
			if tt.ok {
				require.NoError(t, err)
				assert.False(t, strings.HasSuffix(c.basePath, "/"))
				assert.Equal(t, strings.TrimSuffix(tt.endpoint, "/"), c.Endpoint())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.errHas)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestNew_RejectsHalfCredentials(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Endpoint: "https://h/v2", Credentials: Credentials{Key: "EXOk"}})
	require.Error(t, err)
	_, err = New(Config{Endpoint: "https://h/v2", Credentials: Credentials{Secret: testCreds.Secret}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), testCreds.Secret)
}

func TestDo_RequestsAreSignedAsTheyGoOnTheWire(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri, ctype, ua string
		body                   []byte
		sigErr                 error
	}
	got := make(chan seen, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), body, verifySignature(r, body, testCreds)}
		_, _ = w.Write([]byte(`{}`))
	})
	c := newTestClient(t, srv.endpoint())
	tests := []struct {
		name    string
		req     Request
		wantURI string
	}{
		{"policy path with colon", Request{Method: "PUT", Path: "/iam-role/" + url.PathEscape("6a3c5a77-1b1e-4f57-9d2e-0b8e5c6f8a11") + ":policy", Body: []byte(`{"default-service-strategy":"deny"}`)},
			"/v2/iam-role/6a3c5a77-1b1e-4f57-9d2e-0b8e5c6f8a11:policy"},
		{"escaped segment", Request{Method: "GET", Path: "/api-key/" + url.PathEscape("EXO a/b")}, "/v2/api-key/EXO%20a%2Fb"},
		{"query", Request{Method: "GET", Path: "/ai/deployment", Query: url.Values{"visibility": {"private"}}}, "/v2/ai/deployment?visibility=private"},
		{"utf-8 body", Request{Method: "POST", Path: "/ai/api-key", Body: []byte(`{"name":"Zürich key","scope":"public"}`)}, "/v2/ai/api-key"},
		{"no body", Request{Method: "POST", Path: "/ai/api-key/11111111-1111-1111-1111-111111111111/rotate"}, "/v2/ai/api-key/11111111-1111-1111-1111-111111111111/rotate"},
	}
	for _, tt := range tests { // sequential: one channel
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Do(context.Background(), tt.req)
			require.NoError(t, err)
			s := <-got
			assert.NoError(t, s.sigErr)
			assert.Equal(t, tt.wantURI, s.uri)
			assert.Equal(t, tt.req.Method, s.method)
			assert.Equal(t, string(tt.req.Body), string(s.body))
			assert.Equal(t, DefaultUserAgent, s.ua)
			if tt.req.Body != nil {
				assert.Equal(t, "application/json", s.ctype)
			} else {
				assert.Empty(t, s.ctype)
			}
		})
	}
}

func TestDo_DropsEmptyQueryParametersAndRejectsRepeatedOnes(t *testing.T) {
	t.Parallel()
	uris := make(chan string, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		uris <- r.RequestURI
		assert.NoError(t, verifySignature(r, nil, testCreds))
		_, _ = w.Write([]byte(`{}`))
	})
	c := newTestClient(t, srv.endpoint())

	_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/ai/deployment", Query: url.Values{"visibility": {""}, "none": {}, "": {"x"}, "b": {"", "2"}}})
	require.NoError(t, err)
	assert.Equal(t, "/v2/ai/deployment?b=2", <-uris)

	_, err = c.Do(context.Background(), Request{Method: "GET", Path: "/ai/deployment", Query: url.Values{"visibility": {""}}})
	require.NoError(t, err)
	assert.Equal(t, "/v2/ai/deployment", <-uris)

	_, err = c.Do(context.Background(), Request{Operation: "list-deployments", Method: "GET", Path: "/ai/deployment", Query: url.Values{"visibility": {"public", "private"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `query parameter "visibility" has 2 values`)
	assert.Equal(t, 2, srv.count(), "a request with a repeated parameter is never sent")
}

func TestDo_ListZonesIsSentUnsigned(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		assert.Empty(t, r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"zones":[]}`))
	})
	c := newTestClient(t, srv.endpoint(), func(c *Config) { c.Credentials = Credentials{} })
	resp, err := c.Do(context.Background(), Request{Operation: "list-zones", Method: "GET", Path: "/zone", Unsigned: true})
	require.NoError(t, err)
	assert.JSONEq(t, `{"zones":[]}`, string(resp.Body))

	_, err = c.Do(context.Background(), Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
	require.Error(t, err, "a signed request without credentials fails before sending")
	assert.Contains(t, err.Error(), "no API credentials")
	assert.Equal(t, 1, srv.count())
}

func TestDo_ContextCredentialsOverrideAndNeverFallBack(t *testing.T) {
	t.Parallel()
	tenant := Credentials{Key: "EXOtenant000000000000000", Secret: "tenant-SECRET-abcdefghijklmnop"}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		assert.NoError(t, verifySignature(r, nil, tenant))
		_, _ = w.Write([]byte(`{}`))
	})
	c := newTestClient(t, srv.endpoint())

	got, ok := CredentialsFrom(WithCredentials(context.Background(), tenant))
	require.True(t, ok)
	assert.Equal(t, tenant, got)
	_, ok = CredentialsFrom(context.Background())
	assert.False(t, ok)

	_, err := c.Do(WithCredentials(context.Background(), tenant), Request{Method: "GET", Path: "/api-key"})
	require.NoError(t, err)

	// A session whose credentials are incomplete must not borrow the server's own.
	_, err = c.Do(WithCredentials(context.Background(), Credentials{Key: "EXOtenant"}), Request{Method: "GET", Path: "/api-key"})
	require.Error(t, err)
	assert.Equal(t, 1, srv.count())
}

func TestDo_GETRetriedOn503UntilSuccess(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		assert.NoError(t, verifySignature(r, nil, testCreds), "every attempt is signed afresh")
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"message":"maintenance"}`))
			return
		}
		_, _ = w.Write([]byte(`{"api-keys":[]}`))
	})
	c := newTestClient(t, srv.endpoint())
	resp, err := c.Do(context.Background(), Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, 3, srv.count())
}

func TestDo_RetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		header  string
		body    string
		minWait time.Duration
	}{
		{name: "Retry-After header", header: "1", body: `{"message":"Too many requests"}`, minWait: time.Second},
		{name: "retry_after body field", body: `{"message":"Too many requests","retry_after":0.3}`, minWait: 300 * time.Millisecond},
		{name: "Retry-After past RetryMax", header: "120", body: `{}`, minWait: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					if tt.header != "" {
						w.Header().Set("Retry-After", tt.header)
					}
					w.WriteHeader(http.StatusTooManyRequests)
					_, _ = w.Write([]byte(tt.body))
					return
				}
				_, _ = w.Write([]byte(`{}`))
			})
			// The backoff is told the server's wait rather than waiting it out; the default
			// backoff's floor at Retry-After is TestBackoff_IsCappedJitteredAndHonoursRetryAfter.
			var asked []time.Duration
			c := newTestClient(t, srv.endpoint(), func(c *Config) {
				c.RetryMax = 5 * time.Second
				c.Backoff = func(attempt int, retryAfter time.Duration) time.Duration {
					asked = append(asked, retryAfter)
					return 0
				}
			})
			_, err := c.Do(context.Background(), Request{Operation: "get-iam-organization-policy", Method: "GET", Path: "/iam-organization-policy"})
			if tt.minWait == 0 {
				require.Error(t, err, "a Retry-After above RetryMax ends the call whatever Backoff says")
				assert.Empty(t, asked)
				assert.Equal(t, 1, srv.count())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []time.Duration{tt.minWait}, asked)
			assert.Equal(t, 2, srv.count())
		})
	}
}

func TestDo_RetryAfterLongerThanRetryMaxIsReturnedNotWaited(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c := newTestClient(t, srv.endpoint())
	start := time.Now()
	_, err := c.Do(context.Background(), Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 429, apiErr.Status)
	assert.Equal(t, 2*time.Minute, apiErr.RetryAfter)
	assert.Contains(t, err.Error(), "retry after 2m0s")
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, 1, srv.count())
}

func TestDo_GETGivesUpAfterThreeRetries(t *testing.T) {
	t.Parallel()
	for _, status := range []int{429, 502, 503, 504} {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(status)
		})
		c := newTestClient(t, srv.endpoint())
		_, err := c.Do(context.Background(), Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
		var apiErr *Error
		require.ErrorAs(t, err, &apiErr, "status %d", status)
		assert.Equal(t, status, apiErr.Status)
		assert.Equal(t, 4, srv.count(), "1 attempt + 3 retries for %d", status)
	}
}

func TestDo_GETNotRetriedOnOtherStatuses(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 409, 500, 501} {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(status)
		})
		c := newTestClient(t, srv.endpoint())
		_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/api-key"})
		require.Error(t, err)
		assert.Equal(t, 1, srv.count(), "status %d", status)
	}
}

func TestDo_MaxRetriesNegativeMeansNone(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(503) })
	c := newTestClient(t, srv.endpoint(), func(c *Config) { c.MaxRetries = -1 })
	_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/api-key"})
	require.Error(t, err)
	assert.Equal(t, 1, srv.count())
}

func TestDo_PUTRetriedLikeGET(t *testing.T) {
	t.Parallel()
	body := []byte(`{"default-service-strategy":"allow","services":{}}`)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		got, _ := io.ReadAll(r.Body)
		assert.Equal(t, string(body), string(got), "the body is resent whole")
		assert.NoError(t, verifySignature(r, got, testCreds))
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if n == 2 {
			dropConnection(t, w, r)
			return
		}
		_, _ = w.Write([]byte(`{"id":"op","state":"pending"}`))
	})
	c := newTestClient(t, srv.endpoint())
	_, err := c.Do(context.Background(), Request{Operation: "update-iam-organization-policy", Method: "PUT", Path: "/iam-organization-policy", Body: body})
	require.NoError(t, err)
	assert.Equal(t, 3, srv.count())
}

func TestDo_GETRetriedOnConnectionError(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			dropConnection(t, w, r)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	})
	c := newTestClient(t, srv.endpoint())
	_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/api-key"})
	require.NoError(t, err)
	assert.Equal(t, 2, srv.count())
}

// The core safety property: a POST, PATCH or DELETE reaches the server exactly once, whatever
// went wrong, because a create that is resent mints a second key.
func TestDo_NonIdempotentRequestsAreSentExactlyOnce(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name   string
		handle func(t *testing.T, w http.ResponseWriter, r *http.Request)
		errHas string
	}{
		{"500 after applying", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"message":"internal error"}`))
		}, "500 Internal Server Error: internal error"},
		{"503", func(t *testing.T, w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, "503"},
		{"429 with Retry-After", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		}, "429"},
		{"connection dropped", dropConnection, "may have been applied"},
	}
	for _, method := range []string{"POST", "PATCH", "DELETE"} {
		for _, f := range faults {
			t.Run(method+" "+f.name, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { f.handle(t, w, r) })
				c := newTestClient(t, srv.endpoint())
				req := Request{Operation: "create-api-key", Method: method, Path: "/api-key"}
				if method != "DELETE" {
					req.Body = []byte(`{"name":"k","role-id":"6a3c5a77-1b1e-4f57-9d2e-0b8e5c6f8a11"}`)
				}
				_, err := c.Do(context.Background(), req)
				require.Error(t, err)
				assert.Contains(t, err.Error(), f.errHas)
				assert.True(t, strings.HasPrefix(err.Error(), "create-api-key: "), err.Error())
				time.Sleep(20 * time.Millisecond) // a wrongly scheduled retry would land here
				assert.Equal(t, 1, srv.count())
			})
		}
	}
}

func TestDo_POSTThatNeverConnectedSaysNothingWasSent(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there any more
	c := newTestClient(t, "http://"+addr+"/v2")
	_, err = c.Do(context.Background(), Request{Operation: "create-api-key", Method: "POST", Path: "/api-key", Body: []byte(`{}`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nothing reached the server")
}

func TestDo_CancelledContextStopsRetries(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		cancel() // the caller gives up while the first answer is on its way
		w.WriteHeader(503)
	})
	c := newTestClient(t, srv.endpoint(), func(c *Config) {
		c.Backoff = func(int, time.Duration) time.Duration { return 10 * time.Second }
	})
	start := time.Now()
	_, err := c.Do(ctx, Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, 1, srv.count())
}

func TestDo_DeadlineTooShortForBackoffReturnsLastError(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(503)
	})
	c := newTestClient(t, srv.endpoint(), func(c *Config) {
		c.RetryMax = 10 * time.Second
		c.Backoff = func(_ int, retryAfter time.Duration) time.Duration { return retryAfter }
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, Request{Method: "GET", Path: "/api-key"})
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr, "the API's answer, not a bare deadline error")
	assert.Equal(t, 503, apiErr.Status)
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	assert.Equal(t, 1, srv.count())
}

// TestDo_TimeoutBoundsTheWholeCall: the timeout is per call, retries included; a slow GET
// is not tried four times over.
func TestDo_TimeoutBoundsTheWholeCall(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		_, _ = io.ReadAll(r.Body) // lets the server notice the client hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	c := newTestClient(t, srv.endpoint(), func(c *Config) { c.Timeout = 200 * time.Millisecond })

	start := time.Now()
	_, err := c.Do(context.Background(), Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no complete answer within the call's time limit")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	// At most once: on a loaded machine the time limit can run out before the request is
	// even accepted, but never does a retry follow within it.
	gets := srv.count()
	assert.LessOrEqual(t, gets, 1)

	_, err = c.Do(context.Background(), Request{Operation: "create-api-key", Method: "POST", Path: "/api-key", Body: []byte(`{}`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "may have been applied")
	assert.LessOrEqual(t, srv.count()-gets, 1, "the POST went at most once")
}

func TestDo_ResponseBodyIsCapped(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		size := 1024
		if r.URL.Path == "/v2/big" {
			size = 1025
		}
		_, _ = w.Write(bytes.Repeat([]byte("a"), size))
	})
	c := newTestClient(t, srv.endpoint(), func(c *Config) { c.MaxBodyBytes = 1024 })
	resp, err := c.Do(context.Background(), Request{Method: "GET", Path: "/ok"})
	require.NoError(t, err)
	assert.Len(t, resp.Body, 1024)

	_, err = c.Do(context.Background(), Request{Operation: "list-api-keys", Method: "GET", Path: "/big"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exceeds 1024 bytes")
	assert.Equal(t, 2, srv.count(), "an oversized answer is not retried")
}

func TestDo_DefaultBodyCapIsTenMiB(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for range 11 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	c := newTestClient(t, srv.endpoint())
	_, err := c.Do(context.Background(), Request{Method: "GET", Path: "/huge"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exceeds 10485760 bytes")
}

func TestDo_RedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Redirect(w, r, "/v2/elsewhere", http.StatusTemporaryRedirect)
	})
	c := newTestClient(t, srv.endpoint())
	_, err := c.Do(context.Background(), Request{Operation: "create-api-key", Method: "POST", Path: "/api-key", Body: []byte(`{}`)})
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 307, apiErr.Status)
	assert.Equal(t, 1, srv.count())
}

func TestBuildHTTPRequest_RejectsBadPathsAndMethods(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, "https://api-ch-gva-2.exoscale.com/v2")
	tests := []Request{
		{Method: "GET", Path: "api-key"},
		{Method: "GET", Path: "/api-key/../iam-role"},
		{Method: "GET", Path: "/api-key/%2e%2e"},
		{Method: "GET", Path: "/api-key/a b"},
		{Method: "GET", Path: "/api-key?x=1"},
		{Method: "GET", Path: "/api-key/\n"},
		{Method: "GET", Path: "/api-key/%zz"},
		{Method: "TRACE", Path: "/api-key"},
	}
	for _, req := range tests {
		_, err := c.BuildHTTPRequest(context.Background(), req)
		assert.Error(t, err, "%q %q", req.Method, req.Path)
	}
	hreq, err := c.BuildHTTPRequest(context.Background(), Request{Method: "delete", Path: "/api-key/EXO123"})
	require.NoError(t, err)
	assert.Equal(t, "DELETE", hreq.Method)
	assert.Equal(t, "https://api-ch-gva-2.exoscale.com/v2/api-key/EXO123", hreq.URL.String())
}

func TestClient_IsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	var seen sync.Map // request id → attempts
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if _, again := seen.LoadOrStore(r.URL.Query().Get("i"), true); !again {
			w.WriteHeader(503) // every request's first attempt fails: retries interleave
			return
		}
		_, _ = w.Write([]byte(`{}`))
	})
	c := newTestClient(t, srv.endpoint())
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() {
			ctx := context.Background()
			if i%2 == 0 {
				ctx = WithCredentials(ctx, Credentials{Key: "EXOother", Secret: "other-secret-xyz"})
			}
			_, err := c.Do(ctx, Request{Method: "GET", Path: "/api-key", Query: url.Values{"i": {strconv.Itoa(i)}}})
			errs <- err
		}()
	}
	for range n {
		assert.NoError(t, <-errs)
	}
	assert.Equal(t, 2*n, srv.count())
}

func TestBackoff_IsCappedJitteredAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, "https://h/v2", func(c *Config) { c.RetryBase, c.RetryMax = time.Second, 30*time.Second })
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
		for range 20 {
			d := c.backoff(attempt, 0)
			assert.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
			assert.LessOrEqual(t, d, want, "attempt %d", attempt)
		}
	}
	assert.Equal(t, 25*time.Second, c.backoff(0, 25*time.Second))
	assert.LessOrEqual(t, c.backoff(100, 0), 30*time.Second)
}

// errors.Is must see through the wrapping Do adds, so callers can tell cancellation apart.
func TestDo_WrapsTransportErrorsWithOperation(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { dropConnection(t, w, r) })
	c := newTestClient(t, srv.endpoint(), func(c *Config) { c.MaxRetries = -1 })
	_, err := c.Do(context.Background(), Request{Operation: "get-api-key", Method: "GET", Path: "/api-key/EXO1"})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "get-api-key: "), err.Error())
	var urlErr *url.Error
	assert.True(t, errors.As(err, &urlErr))
}

// logs are checked for secrets in secrets_test.go; here: they exist at debug level.
func TestDo_LogsAtDebug(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) { _, _ = w.Write([]byte(`{}`)) })
	c := newTestClient(t, srv.endpoint(), func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	_, err := c.Do(context.Background(), Request{Operation: "list-api-keys", Method: "GET", Path: "/api-key"})
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "operation=list-api-keys")
	assert.Contains(t, buf.String(), "status=200")
}

// A certificate the client does not trust will not change on a second try: one handshake, an
// error that says so, and nothing sent.
func TestDo_CertificateVerificationFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	var handshakes, requests atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		handshakes.Add(1)
		return nil, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)

	for _, method := range []string{"GET", "PUT", "POST"} {
		handshakes.Store(0)
		c := newTestClient(t, srv.URL+"/v2") // the default transport: the test CA is not trusted
		_, err := c.Do(context.Background(), Request{Operation: "list-api-keys", Method: method, Path: "/api-key"})
		require.Error(t, err, method)
		assert.Contains(t, err.Error(), "TLS certificate verification failed", method)
		assert.Contains(t, err.Error(), "not retried", method)
		assert.True(t, strings.HasPrefix(err.Error(), "list-api-keys: "), err.Error())
		var unknown x509.UnknownAuthorityError
		assert.ErrorAs(t, err, &unknown, "the cause stays inspectable")
		assert.Equal(t, int32(1), handshakes.Load(), "%s: one attempt", method)
	}
	assert.Zero(t, requests.Load(), "nothing reached the handler")
}
