package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNew_SeedsABelievableOrganization(t *testing.T) {
	t.Parallel()
	s := New()
	st := s.State()
	key, secret := s.ServerCredentials()
	assert.Regexp(t, iamKeyRE, key)
	assert.Regexp(t, iamSecretRE, secret)
	ciKey, ciSecret, ok := s.KeyCredentials(RestrictedKeyName)
	require.True(t, ok)
	assert.Equal(t, []APIKey{
		{Key: key, Name: ServerKeyName, RoleID: AdminRoleID},
		{Key: ciKey, Name: RestrictedKeyName, RoleID: RestrictedRoleID},
	}, st.APIKeys)
	assert.Equal(t, []Role{{ID: AdminRoleID, Name: AdminRoleName}, {ID: RestrictedRoleID, Name: RestrictedRoleName}}, st.Roles)
	assert.Equal(t, []AIKey{{ID: SeedAIKeyID, Name: SeedAIKeyName, Scope: "public"}}, st.AIKeys)

	for _, id := range []string{OrgID, AdminRoleID, RestrictedRoleID, PrivateDeploymentID, PublicDeploymentID, SeedAIKeyID} {
		assert.Regexp(t, uuidRE, id)
	}
	// Server secret, ci-deploy secret, AI key value, two deployment keys.
	secrets := s.Secrets()
	assert.Len(t, secrets, 5)
	assert.Contains(t, secrets, secret)
	assert.Contains(t, secrets, ciSecret)
}

func TestNew_SecretsAreRandomPerInstanceIDsAreStable(t *testing.T) {
	t.Parallel()
	a, b := New(), New()
	ak, as := a.ServerCredentials()
	bk, bs := b.ServerCredentials()
	assert.NotEqual(t, ak, bk)
	assert.NotEqual(t, as, bs)
	assert.Equal(t, a.State().Roles, b.State().Roles)
	for _, sa := range a.Secrets() {
		assert.NotContains(t, b.Secrets(), sa)
	}
}

func TestWithoutSeed_KeepsOnlyTheServerCredentialAndAdminRole(t *testing.T) {
	t.Parallel()
	s := New(WithoutSeed())
	c := serverCreds(s)
	st := s.State()
	assert.Equal(t, []APIKey{{Key: c.key, Name: ServerKeyName, RoleID: AdminRoleID}}, st.APIKeys)
	assert.Equal(t, []Role{{ID: AdminRoleID, Name: AdminRoleName}}, st.Roles)
	assert.Empty(t, st.AIKeys)
	_, _, ok := s.KeyCredentials(RestrictedKeyName)
	assert.False(t, ok)
	got := must(t, s, req{method: "GET", path: "/ai/deployment", creds: c})
	assert.Empty(t, got["deployments"])
	assert.Equal(t, []string{c.secret}, s.Secrets())
}

func TestWithClock_StampsAIKeys(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return at }))
	got := must(t, s, req{method: "POST", path: "/ai/api-key", creds: serverCreds(s), expires: at.Add(time.Minute), body: `{"name":"stamped","scope":"public"}`})
	assert.Equal(t, "2026-05-04T12:30:00Z", got["created-at"])
	assert.Equal(t, "2026-05-04T12:30:00Z", got["updated-at"])
	res := send(t, s, req{method: "GET", path: "/api-key", creds: serverCreds(s), expires: at.Add(-time.Second)})
	assert.Equal(t, http.StatusForbidden, res.Status, "expiry judged by the sandbox clock")
}

func TestSecrets_CoverEveryValueEverMinted(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	k := createKey(t, s, c, "gone", AdminRoleID)
	must(t, s, req{method: "DELETE", path: "/api-key/" + k.key, creds: c})
	old := must(t, s, req{method: "GET", path: "/ai/api-key/" + SeedAIKeyID + "/reveal", creds: c})["value"].(string)
	rotated := must(t, s, req{method: "POST", path: "/ai/api-key/" + SeedAIKeyID + "/rotate", creds: c})["value"].(string)
	created := must(t, s, req{method: "POST", path: "/ai/api-key", creds: c, body: `{"name":"n","scope":"public"}`})["value"].(string)
	secrets := s.Secrets()
	for _, v := range []string{k.secret, old, rotated, created, c.secret} {
		assert.Contains(t, secrets, v)
	}
}

// Secrets appear only in the responses whose job is to return them (create-api-key, create-ai-api-key,
// rotate, reveal, reveal-deployment-api-key): never in lists, gets, operations or errors.
func TestResponses_CarrySecretsOnlyWhereDocumented(t *testing.T) {
	t.Parallel()
	s := New()
	c := serverCreds(s)
	ciKey, _, _ := s.KeyCredentials(RestrictedKeyName)
	op := must(t, s, req{method: "DELETE", path: "/api-key/" + ciKey, creds: c})
	reqs := []req{
		{method: "GET", path: "/api-key"},
		{method: "GET", path: "/api-key/" + c.key},
		{method: "GET", path: "/ai/api-key"},
		{method: "GET", path: "/ai/api-key/" + SeedAIKeyID},
		{method: "PATCH", path: "/ai/api-key/" + SeedAIKeyID, body: `{"name":"renamed"}`},
		{method: "GET", path: "/iam-role"},
		{method: "GET", path: "/ai/deployment"},
		{method: "GET", path: "/ai/deployment/" + PrivateDeploymentID},
		{method: "GET", path: "/operation/" + op["id"].(string)},
		{method: "GET", path: "/zone"},
		{method: "GET", path: "/nope"},
		{method: "POST", path: "/api-key", body: `{"name":"` + c.secret + `"}`},
		{method: "POST", path: "/ai/api-key/" + SeedAIKeyID + "/rotate"}, // answers a value; recorded as an event without it
		{method: "GET", path: "/event"},
		{method: "GET", path: "/user"},
		{method: "GET", path: "/organization"},
		{method: "GET", path: "/api-key", auth: "EXO2-HMAC-SHA256 credential=" + c.key + ",expires=1,signature=" + c.secret},
		{method: "GET", path: "/api-key", creds: creds{c.key, "wrong"}},
	}
	for _, r := range reqs {
		if r.auth == "" && r.creds.key == "" {
			r.creds = c
		}
		res := send(t, s, r)
		if strings.HasSuffix(r.path, "/rotate") {
			continue // its job is to return the new value
		}
		for _, secret := range s.Secrets() {
			assert.NotContains(t, string(res.Body), secret, "%s %s", r.method, r.path)
		}
	}
}

func TestStart_ServesOnLoopbackUntilStopped(t *testing.T) {
	t.Parallel()
	s := New()
	base, stop, err := s.Start()
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^http://127\.0\.0\.1:\d+/v2$`), base)

	resp, err := http.Get(base + "/zone")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	r := req{method: "GET", path: "/api-key", creds: serverCreds(s)}.build()
	hr, err := http.NewRequest("GET", base+"/api-key", nil)
	require.NoError(t, err)
	hr.Header.Set("Authorization", r.Header.Get("Authorization"))
	resp, err = http.DefaultClient.Do(hr)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "signature over the real wire path")

	stop()
	stop() // idempotent
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	_, err = client.Get(base + "/zone")
	assert.Error(t, err, "stopped")
}

// TestConcurrentClients_KeepStateConsistent hammers one sandbox from many goroutines with
// every kind of request, faults and snapshots included, under -race.
func TestConcurrentClients_KeepStateConsistent(t *testing.T) {
	t.Parallel()
	s := New(WithPendingPolls(2))
	admin := serverCreds(s)
	const workers, rounds = 24, 15
	var created, deleted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds)
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs <- fmt.Sprintf(format, args...)
		}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				name := fmt.Sprintf("w%d-%d", w, i)
				res := send(t, s, req{method: "POST", path: "/api-key", creds: admin, body: `{"name":"` + name + `","role-id":"` + AdminRoleID + `"}`})
				check(res.Status == 200, "create-api-key %d", res.Status)
				if res.Status != 200 {
					continue
				}
				created.Add(1)
				m := res.decoded()
				own := creds{m["key"].(string), m["secret"].(string)}
				// The new key signs at once.
				check(send(t, s, req{method: "GET", path: "/api-key/" + own.key, creds: own}).Status == 200, "new key cannot sign")
				ai := send(t, s, req{method: "POST", path: "/ai/api-key", creds: own, body: `{"name":"` + name + `","scope":"public"}`}).decoded()
				aiID, _ := ai["id"].(string)
				rot := send(t, s, req{method: "POST", path: "/ai/api-key/" + aiID + "/rotate", creds: own})
				rev := send(t, s, req{method: "GET", path: "/ai/api-key/" + aiID + "/reveal", creds: own})
				check(rot.Status == 200 && rev.Status == 200 && rot.decoded()["value"] == rev.decoded()["value"], "rotate/reveal mismatch")
				send(t, s, req{method: "GET", path: "/api-key", creds: own})
				send(t, s, req{method: "GET", path: "/iam-role", creds: own})
				send(t, s, req{method: "PUT", path: "/iam-role/" + RestrictedRoleID, creds: own, body: `{"description":"` + name + `"}`})
				send(t, s, req{method: "GET", path: "/zone"})
				op := send(t, s, req{method: "DELETE", path: "/ai/api-key/" + aiID, creds: own}).decoded()
				opID, _ := op["id"].(string)
				for range 3 {
					send(t, s, req{method: "GET", path: "/operation/" + opID, creds: own})
				}
				if i%3 == 0 {
					s.Inject(Fault{Method: "GET", Path: "/zone", Status: 503})
					_ = s.State()
					_ = s.Secrets()
					_ = s.Requests("", "/ai/*")
				}
				if i%2 == 0 {
					res := send(t, s, req{method: "DELETE", path: "/api-key/" + own.key, creds: own})
					check(res.Status == 200, "delete own key %d", res.Status)
					deleted.Add(1)
					check(send(t, s, req{method: "GET", path: "/api-key", creds: own}).Status == 403, "deleted key still signs")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	st := s.State()
	assert.Len(t, st.APIKeys, 2+int(created.Load()-deleted.Load()))
	assert.Len(t, st.AIKeys, 1, "every worker deleted its AI key")
	assert.Equal(t, int(created.Load()), s.Requests("POST", "/api-key"))
	assert.Equal(t, workers*rounds, s.Requests("POST", "/ai/api-key/*"))
}

func TestConcurrentClients_OverRealHTTP(t *testing.T) {
	t.Parallel()
	s := New()
	do := liveSandbox(t, s)
	c := serverCreds(s)
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				resp, _, err := do(context.Background(), req{method: "GET", path: "/ai/deployment", creds: c})
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, failures.Load())
	assert.Equal(t, 160, s.Requests("GET", "/ai/deployment"))
	assert.False(t, strings.Contains(strings.Join(s.Secrets(), ""), "\n"))
}
