package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testClock is a settable clock for WithClock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// at signs r to expire 10 minutes after the clock's now.
func (c *testClock) at(r req) req {
	r.expires = c.now().Add(10 * time.Minute)
	return r
}

func TestAssumeIAMRole_SessionActsAsTheRoleUntilItExpires(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	s := New(WithClock(clock.now))
	admin := serverCreds(s)
	// The restricted role's max-session-ttl is 3600: a longer ttl is capped.
	got := must(t, s, clock.at(req{method: "POST", path: "/iam-role/" + RestrictedRoleID + "/assume", creds: admin, body: `{"ttl":86400}`}))
	assert.Equal(t, clock.now().Add(time.Hour).Format(time.RFC3339), got["expires-at"])
	sess := creds{got["key"].(string), got["secret"].(string)}

	op := must(t, s, clock.at(req{method: "DELETE", path: "/ai/api-key/" + SeedAIKeyID, creds: admin}))
	assert.Equal(t, http.StatusOK, send(t, s, clock.at(req{method: "GET", path: "/operation/" + op["id"].(string), creds: sess})).Status,
		"the role allows get-operation")
	assertForbidden(t, send(t, s, clock.at(req{method: "GET", path: "/api-key", creds: sess})), "Forbidden by role policy for iam")
	assert.NotContains(t, names(must(t, s, clock.at(req{method: "GET", path: "/api-key", creds: admin}))["api-keys"].([]any), "key"), sess.key,
		"a session is not an API key")

	clock.advance(time.Hour - time.Second)
	assert.Equal(t, http.StatusOK, send(t, s, clock.at(req{method: "GET", path: "/zone", creds: sess})).Status, "still valid")
	clock.advance(time.Second)
	assertForbidden(t, send(t, s, clock.at(req{method: "GET", path: "/operation/" + op["id"].(string), creds: sess})), "Invalid request signature")
}

func TestAssumeIAMRole_TTLWithinMaxIsKept(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	s := New(WithClock(clock.now))
	got := must(t, s, clock.at(req{method: "POST", path: "/iam-role/" + RestrictedRoleID + "/assume", creds: serverCreds(s), body: `{"ttl":60}`}))
	assert.Equal(t, clock.now().Add(time.Minute).Format(time.RFC3339), got["expires-at"])
}

func TestAssumeIAMRole_AssumeRolePolicyDecidesWhoMay(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	op := must(t, s, req{method: "POST", path: "/iam-role", creds: admin, body: `{"name":"break-glass","assume-role-policy":{"rules":[
		{"action":"allow","expression":"api_key == '` + admin.key + `'"}]}}`})
	roleID := refID(t, op)
	other := createKey(t, s, admin, "other-admin", AdminRoleID)
	must(t, s, req{method: "POST", path: "/iam-role/" + roleID + "/assume", creds: admin, body: `{"ttl":60}`})
	res := send(t, s, req{method: "POST", path: "/iam-role/" + roleID + "/assume", creds: other, body: `{"ttl":60}`})
	assert.Equal(t, http.StatusForbidden, res.Status, string(res.Body))
	assert.Contains(t, string(res.Body), "assume-role policy")
}

// listEvents calls list-events with optional from/to and decodes the array.
func listEvents(t *testing.T, s *Sandbox, r req) []map[string]any {
	t.Helper()
	r.method, r.path = "GET", "/event"
	res := send(t, s, r)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	var out []map[string]any
	require.NoError(t, json.Unmarshal(res.Body, &out), "list-events answers an array: %s", res.Body)
	return out
}

func TestEvents_RecordEveryAppliedChangeAndNoRead(t *testing.T) {
	t.Parallel()
	var changes atomic.Int32
	s := New(WithChangeHook(func() { changes.Add(1) }))
	admin := serverCreds(s)
	ci, ciSecret, _ := s.KeyCredentials(RestrictedKeyName)

	// Reads, refusals and invalid writes record nothing.
	must(t, s, req{method: "GET", path: "/api-key", creds: admin})
	must(t, s, req{method: "GET", path: "/ai/api-key/" + SeedAIKeyID + "/reveal", creds: admin})
	assert.Equal(t, http.StatusForbidden, send(t, s, req{method: "POST", path: "/api-key", creds: creds{ci, ciSecret}, body: `{"name":"x","role-id":"` + AdminRoleID + `"}`}).Status)
	assert.Equal(t, http.StatusBadRequest, send(t, s, req{method: "POST", path: "/api-key", creds: admin, body: `{}`}).Status)
	assert.Empty(t, listEvents(t, s, req{creds: admin}))
	assert.Zero(t, changes.Load())

	k := createKey(t, s, admin, "evented", RestrictedRoleID)
	must(t, s, req{method: "POST", path: "/ai/api-key", creds: admin, body: `{"name":"ev","scope":"public"}`})
	must(t, s, req{method: "POST", path: "/ai/api-key/" + SeedAIKeyID + "/rotate", creds: admin})
	must(t, s, req{method: "POST", path: "/iam-role/" + RestrictedRoleID + "/assume", creds: admin, body: `{"ttl":60}`})
	must(t, s, req{method: "DELETE", path: "/api-key/" + k.key, creds: admin, remote: "198.51.100.4:40000"})
	assert.EqualValues(t, 5, changes.Load(), "the hook runs once per applied change")

	res := send(t, s, req{method: "GET", path: "/event", creds: admin})
	for _, secret := range s.Secrets() {
		assert.NotContains(t, string(res.Body), secret, "no secret is ever recorded")
	}
	events := listEvents(t, s, req{creds: admin})
	var handlers []string
	for _, e := range events {
		handlers = append(handlers, e["handler"].(string))
	}
	assert.Equal(t, []string{"create-api-key", "create-ai-api-key", "rotate-ai-api-key", "assume-iam-role", "delete-api-key"}, handlers)

	create := events[0]
	for _, f := range []string{"timestamp", "request-id", "zone", "handler", "status", "message", "elapsed-ms", "source-ip", "uri",
		"path-params", "get-params", "body-params", "iam-api-key", "iam-role"} {
		assert.Contains(t, create, f)
	}
	assert.EqualValues(t, 200, create["status"])
	assert.Equal(t, "ch-gva-2", create["zone"])
	assert.Regexp(t, uuidRE, create["request-id"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, create["timestamp"])
	assert.GreaterOrEqual(t, create["elapsed-ms"].(float64), 1.0)
	assert.Equal(t, "/v2/api-key", create["uri"])
	assert.Equal(t, "192.0.2.1", create["source-ip"])
	assert.Equal(t, map[string]any{"name": "evented", "role-id": RestrictedRoleID}, create["body-params"])
	assert.Equal(t, map[string]any{"key": admin.key, "name": ServerKeyName, "role-id": AdminRoleID}, create["iam-api-key"])
	assert.Equal(t, map[string]any{"id": AdminRoleID, "name": AdminRoleName}, create["iam-role"])

	del := events[4]
	assert.Equal(t, map[string]any{"id": k.key}, del["path-params"])
	assert.Equal(t, "198.51.100.4", del["source-ip"])
	assert.Equal(t, map[string]any{"ttl": float64(60)}, events[3]["body-params"])
}

func TestEvents_CarryTheSessionThatActed(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	got := must(t, s, req{method: "POST", path: "/iam-role/" + AdminRoleID + "/assume", creds: admin, body: `{"ttl":60}`})
	sess := creds{got["key"].(string), got["secret"].(string)}
	createKey(t, s, sess, "made-by-session", RestrictedRoleID)
	events := listEvents(t, s, req{creds: admin})
	require.Len(t, events, 2)
	assert.Equal(t, map[string]any{"key": sess.key, "name": "assumed-" + AdminRoleName, "role-id": AdminRoleID}, events[1]["iam-api-key"])
}

func TestListEvents_WindowDefaultsToTheLast24Hours(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	s := New(WithClock(clock.now))
	admin := serverCreds(s)
	t0 := clock.now()
	createKey(t, s, admin, "old", RestrictedRoleID)
	// createKey signs with the real clock's expiry; the sandbox clock is fixed, so it verifies.
	clock.advance(25 * time.Hour)
	must(t, s, clock.at(req{method: "POST", path: "/api-key", creds: admin, body: `{"name":"new","role-id":"` + RestrictedRoleID + `"}`}))

	recent := listEvents(t, s, clock.at(req{creds: admin}))
	require.Len(t, recent, 1)
	assert.Equal(t, "new", recent[0]["body-params"].(map[string]any)["name"])

	q := url.Values{"from": {t0.Add(-time.Hour).Format(time.RFC3339)}, "to": {t0.Add(time.Hour).Format(time.RFC3339)}}
	old := listEvents(t, s, clock.at(req{creds: admin, query: q}))
	require.Len(t, old, 1)
	assert.Equal(t, "old", old[0]["body-params"].(map[string]any)["name"])

	all := listEvents(t, s, clock.at(req{creds: admin, query: url.Values{"from": {t0.Add(-time.Hour).Format(time.RFC3339)}}}))
	assert.Len(t, all, 2)

	for name, q := range map[string]url.Values{
		"bad from":       {"from": {"yesterday"}},
		"to before from": {"from": {t0.Format(time.RFC3339)}, "to": {t0.Add(-time.Hour).Format(time.RFC3339)}},
	} {
		res := send(t, s, clock.at(req{method: "GET", path: "/event", creds: admin, query: q}))
		assert.Equal(t, http.StatusBadRequest, res.Status, name)
		assert.Contains(t, string(res.Body), `"location":"query"`, name)
	}
}

func TestListUsers_SeededWithOneUserWithoutTwoFactor(t *testing.T) {
	t.Parallel()
	s := New()
	got := must(t, s, req{method: "GET", path: "/user", creds: serverCreds(s)})
	without := 0
	for _, u := range got["users"].([]any) {
		if !u.(map[string]any)["two-factor-authentication"].(bool) {
			without++
			assert.Equal(t, NoTwoFactorUserID, u.(map[string]any)["id"])
		}
	}
	assert.Equal(t, 1, without)
	empty := New(WithoutSeed())
	assert.Empty(t, must(t, empty, req{method: "GET", path: "/user", creds: serverCreds(empty)})["users"])
}

func TestNewOperations_SignedValidatedAndFaultable(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	ci, ciSecret, _ := s.KeyCredentials(RestrictedKeyName)
	for _, r := range []req{
		{method: "POST", path: "/iam-role/" + RestrictedRoleID + "/assume", body: `{"ttl":60}`},
		{method: "GET", path: "/event"},
		{method: "GET", path: "/user"},
		{method: "GET", path: "/organization"},
	} {
		assertForbidden(t, send(t, s, r), "Invalid request signature")
		signedByOther := r
		signedByOther.creds = creds{ci, ciSecret}
		res := send(t, s, signedByOther)
		assert.Equal(t, http.StatusForbidden, res.Status, "%s %s: the restricted role allows none of them", r.method, r.path)
		assert.Contains(t, string(res.Body), "Forbidden by role policy for ")
	}
	s.Inject(Fault{Method: "GET", Path: "/event", Status: http.StatusServiceUnavailable})
	s.Inject(Fault{Method: "POST", Path: "/iam-role/*", Status: http.StatusTooManyRequests})
	do := liveSandbox(t, s)
	resp, _, err := do(context.Background(), req{method: "GET", path: "/event", creds: admin})
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	resp, _, err = do(context.Background(), req{method: "POST", path: "/iam-role/" + RestrictedRoleID + "/assume", creds: admin, body: `{"ttl":60}`})
	require.NoError(t, err)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	resp, body, err := do(context.Background(), req{method: "GET", path: "/event", creds: admin, query: url.Values{"from": {"2026-01-01T00:00:00Z"}}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a signed query over real HTTP: %s", body)
	assert.True(t, strings.HasPrefix(string(body), "["))
}
