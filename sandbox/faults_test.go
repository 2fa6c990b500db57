package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liveSandbox starts s on loopback and returns a function sending signed requests to it.
func liveSandbox(t *testing.T, s *Sandbox) func(ctx context.Context, r req) (*http.Response, []byte, error) {
	t.Helper()
	base, stop, err := s.Start()
	require.NoError(t, err)
	t.Cleanup(stop)
	// No keep-alive: a dropped connection must not be retried transparently by the transport
	// on a reused connection, which would hide what the fault did.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(client.CloseIdleConnections)
	return func(ctx context.Context, r req) (*http.Response, []byte, error) {
		hr := r.build()
		out, err := http.NewRequestWithContext(ctx, r.method, base+strings.TrimPrefix(hr.URL.RequestURI(), "/v2"), hr.Body)
		require.NoError(t, err)
		out.Header = hr.Header
		resp, err := client.Do(out)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
}

func TestFaults_EachKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		fault Fault
		r     req // the faulted request (signed with the server credential)
		check func(t *testing.T, s *Sandbox, resp *http.Response, body []byte, err error)
	}{
		{"status with Retry-After", Fault{Method: "GET", Path: "/api-key", Status: 429, RetryAfter: "2"}, req{method: "GET", path: "/api-key"},
			func(t *testing.T, _ *Sandbox, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, 429, resp.StatusCode)
				assert.Equal(t, "2", resp.Header.Get("Retry-After"))
				var p problemBody
				require.NoError(t, json.Unmarshal(body, &p))
				assert.Equal(t, "Too Many Requests", p.Title)
				assert.Equal(t, 429, p.Status)
			}},
		{"dropped connection", Fault{Path: "/api-key", Drop: true}, req{method: "GET", path: "/api-key"},
			func(t *testing.T, _ *Sandbox, _ *http.Response, _ []byte, err error) {
				require.Error(t, err)
			}},
		{"invalid JSON", Fault{Path: "/ai/api-key", InvalidJSON: true}, req{method: "GET", path: "/ai/api-key"},
			func(t *testing.T, _ *Sandbox, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
				assert.False(t, json.Valid(body))
			}},
		{"custom JSON body", Fault{Path: "/ai/api-key", Status: 403, Body: []byte(`{"code":"forbidden_operation","error":"nope"}`)}, req{method: "GET", path: "/ai/api-key"},
			func(t *testing.T, _ *Sandbox, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, 403, resp.StatusCode)
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				assert.Equal(t, `{"code":"forbidden_operation","error":"nope"}`, string(body))
			}},
		{"custom plain-text body", Fault{Path: "/zone", Status: 502, Body: []byte("Bad Gateway\n")}, req{method: "GET", path: "/zone"},
			func(t *testing.T, _ *Sandbox, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, 502, resp.StatusCode)
				assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"))
				assert.Equal(t, "Bad Gateway\n", string(body))
			}},
		{"after apply: 500 but the key exists", Fault{Method: "POST", Path: "/api-key", Status: 500, AfterApply: true},
			req{method: "POST", path: "/api-key", body: `{"name":"applied","role-id":"` + AdminRoleID + `"}`},
			func(t *testing.T, s *Sandbox, resp *http.Response, body []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, 500, resp.StatusCode)
				assert.NotContains(t, string(body), "secret")
				assert.Contains(t, keyNames(s), "applied")
				assert.Equal(t, 1, s.Requests("POST", "/api-key"), "sent exactly once")
			}},
		{"after apply: dropped but the AI key exists", Fault{Method: "POST", Path: "/ai/api-key", Drop: true, AfterApply: true},
			req{method: "POST", path: "/ai/api-key", body: `{"name":"applied","scope":"public"}`},
			func(t *testing.T, s *Sandbox, _ *http.Response, _ []byte, err error) {
				require.Error(t, err)
				assert.Len(t, s.State().AIKeys, 2)
			}},
		{"without AfterApply the change does not happen", Fault{Method: "POST", Path: "/api-key", Status: 503},
			req{method: "POST", path: "/api-key", body: `{"name":"not-applied","role-id":"` + AdminRoleID + `"}`},
			func(t *testing.T, s *Sandbox, resp *http.Response, _ []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, 503, resp.StatusCode)
				assert.NotContains(t, keyNames(s), "not-applied")
			}},
		{"delay only, then a normal answer", Fault{Path: "/iam-role", Delay: 50 * time.Millisecond}, req{method: "GET", path: "/iam-role"},
			func(t *testing.T, _ *Sandbox, resp *http.Response, _ []byte, err error) {
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New()
			do := liveSandbox(t, s)
			tt.r.creds = serverCreds(s)
			s.Inject(tt.fault)
			start := time.Now()
			resp, body, err := do(ctx, tt.r)
			tt.check(t, s, resp, body, err)
			assert.GreaterOrEqual(t, time.Since(start), tt.fault.Delay)

			// Count defaults to 1: the same request now gets a real answer.
			tt.r.body = strings.ReplaceAll(tt.r.body, `"name":"`, `"name":"again-`)
			resp, body, err = do(ctx, tt.r)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.True(t, json.Valid(body))
		})
	}
}

func keyNames(s *Sandbox) []string {
	var out []string
	for _, k := range s.State().APIKeys {
		out = append(out, k.Name)
	}
	return out
}

func TestFaults_CountMethodAndPathMatching(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	s.Inject(Fault{Method: "GET", Path: "/ai/*", Status: 503, Count: 2})
	s.Inject(Fault{Method: "POST", Path: "/api-key", Status: 500})

	steps := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api-key", "", 200},                                // neither fault matches
		{"GET", "/ai/deployment", "", 503},                          // prefix match, 1 of 2
		{"GET", "/ai/api-key/" + SeedAIKeyID, "", 503},              // 2 of 2
		{"GET", "/ai/deployment", "", 200},                          // used up
		{"DELETE", "/api-key/EXO000000000000000000000000", "", 404}, // method does not match
		{"POST", "/api-key", `{"name":"x","role-id":"` + AdminRoleID + `"}`, 500},
		{"POST", "/api-key", `{"name":"y","role-id":"` + AdminRoleID + `"}`, 200},
	}
	for i, st := range steps {
		res := send(t, s, req{method: st.method, path: st.path, body: st.body, creds: c})
		assert.Equal(t, st.want, res.Status, "step %d: %s %s", i, st.method, st.path)
	}

	s.Inject(Fault{Status: 500, Count: 100})
	s.ClearFaults()
	assert.Equal(t, 200, send(t, s, req{method: "GET", path: "/api-key", creds: c}).Status, "cleared")
}

func TestFaults_DelayHonoursRequestContext(t *testing.T) {
	t.Parallel()
	s := New()
	do := liveSandbox(t, s)
	c := serverCreds(s)
	s.Inject(Fault{Path: "/api-key", Delay: 10 * time.Second, Status: 500})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := do(ctx, req{method: "GET", path: "/api-key", creds: c})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)

	// The handler noticed the cancellation: a stop does not wait for the 10 s either.
	start = time.Now()
	resp, _, err := do(context.Background(), req{method: "GET", path: "/api-key", creds: c})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestFaults_AfterApplyDelayOutlivesClientTimeoutButApplies(t *testing.T) {
	t.Parallel()
	s := New()
	do := liveSandbox(t, s)
	c := serverCreds(s)
	s.Inject(Fault{Method: "POST", Path: "/iam-role", Delay: 10 * time.Second, AfterApply: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := do(ctx, req{method: "POST", path: "/iam-role", body: `{"name":"slow"}`, creds: c})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Eventually(t, func() bool { return len(s.State().Roles) == 3 }, 5*time.Second, 5*time.Millisecond,
		"the create happened although the client timed out")
}

func TestRequests_CountsByMethodAndPath(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	send(t, s, req{method: "GET", path: "/api-key", creds: c})
	send(t, s, req{method: "GET", path: "/api-key"}) // unsigned: counted before auth
	send(t, s, req{method: "DELETE", path: "/api-key/EXO000000000000000000000000", creds: c})
	send(t, s, req{method: "GET", path: "/ai/deployment", creds: c})
	send(t, s, req{method: "PUT", path: "/zone"}) // 405: counted too
	tests := []struct {
		method, path string
		want         int
	}{
		{"", "", 5},
		{"GET", "/api-key", 2},
		{"get", "/api-key", 2},
		{"POST", "/api-key", 0},
		{"", "/api-key*", 3},
		{"DELETE", "/api-key/*", 1},
		{"", "/ai/*", 1},
		{"PUT", "/zone", 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, s.Requests(tt.method, tt.path), "%q %q", tt.method, tt.path)
	}
}
