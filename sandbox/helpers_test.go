package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testSign is the tests' own EXO2-HMAC-SHA256 signer, written from the published scheme separately from the
// verifier so the two can disagree (TestTestSigner_MatchesReferenceVectors keeps it honest).
func testSign(method string, u *url.URL, body []byte, key, secret string, expires int64) string {
	q := u.Query()
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	var vals strings.Builder
	for _, n := range names {
		vals.WriteString(q.Get(n))
	}
	msg := method + " " + u.EscapedPath() + "\n" + string(body) + "\n" + vals.String() + "\n\n" + strconv.FormatInt(expires, 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	h := "EXO2-HMAC-SHA256 credential=" + key
	if len(names) > 0 {
		h += ",signed-query-args=" + strings.Join(names, ";")
	}
	return h + ",expires=" + strconv.FormatInt(expires, 10) + ",signature=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type creds struct{ key, secret string }

func serverCreds(s *Sandbox) creds {
	k, sec := s.ServerCredentials()
	return creds{k, sec}
}

// req describes one test request; the zero creds send it unsigned.
type req struct {
	method  string
	path    string // below /v2, as on the wire
	query   url.Values
	body    string
	creds   creds
	expires time.Time // zero: now + 10 minutes
	auth    string    // overrides the computed Authorization header when set
	host    string    // Host header (default example.com)
	remote  string    // client address, host:port (default 192.0.2.1:1234)
}

type result struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object.
func (r result) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// decoded is JSON without failing the test, for goroutines (which must not call FailNow); a body
// that is not an object decodes to nil and the caller's checks fail instead.
func (r result) decoded() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

func (r req) build() *http.Request {
	target := "/v2" + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var hr *http.Request
	if r.body != "" {
		hr = httptest.NewRequest(r.method, target, strings.NewReader(r.body))
		hr.Header.Set("Content-Type", "application/json")
	} else {
		hr = httptest.NewRequest(r.method, target, nil)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	exp := r.expires
	if exp.IsZero() {
		exp = time.Now().Add(10 * time.Minute)
	}
	switch {
	case r.auth != "":
		hr.Header.Set("Authorization", r.auth)
	case r.creds.key != "":
		hr.Header.Set("Authorization", testSign(r.method, hr.URL, []byte(r.body), r.creds.key, r.creds.secret, exp.Unix()))
	}
	return hr
}

// send runs r through h in-process.
func send(t testing.TB, h http.Handler, r req) result {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r.build())
	return result{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// must sends r and requires status 200, returning the decoded body.
func must(t testing.TB, h http.Handler, r req) map[string]any {
	t.Helper()
	res := send(t, h, r)
	require.Equal(t, http.StatusOK, res.Status, "%s %s: %s", r.method, r.path, res.Body)
	return res.JSON(t)
}

// poll polls an operation until it is no longer pending and returns it.
func poll(t testing.TB, s *Sandbox, c creds, op map[string]any) map[string]any {
	t.Helper()
	require.Equal(t, "pending", op["state"])
	id, _ := op["id"].(string)
	for range 10 {
		got := must(t, s, req{method: "GET", path: "/operation/" + id, creds: c})
		if got["state"] != "pending" {
			return got
		}
	}
	t.Fatalf("operation %s still pending after 10 polls", id)
	return nil
}

// refID returns an operation's reference.id.
func refID(t testing.TB, op map[string]any) string {
	t.Helper()
	ref, ok := op["reference"].(map[string]any)
	require.True(t, ok, "operation without reference: %v", op)
	id, _ := ref["id"].(string)
	return id
}

// fieldPaths lists the paths of a problem's field errors.
func fieldPaths(t testing.TB, res result) []string {
	t.Helper()
	var p struct {
		Errors []struct{ Path, Detail, Pointer, Location string }
	}
	require.NoError(t, json.Unmarshal(res.Body, &p))
	out := []string{}
	for _, e := range p.Errors {
		out = append(out, e.Path)
	}
	return out
}

// createKey creates an IAM key on roleID through the API and returns its credentials.
func createKey(t testing.TB, s *Sandbox, c creds, name, roleID string) creds {
	t.Helper()
	got := must(t, s, req{method: "POST", path: "/api-key", creds: c, body: `{"name":"` + name + `","role-id":"` + roleID + `"}`})
	return creds{got["key"].(string), got["secret"].(string)}
}

// createRole creates a role with the given policy JSON (may be "") and returns its id.
func createRole(t testing.TB, s *Sandbox, c creds, name, policyJSON string) string {
	t.Helper()
	body := `{"name":"` + name + `"`
	if policyJSON != "" {
		body += `,"policy":` + policyJSON
	}
	body += "}"
	op := must(t, s, req{method: "POST", path: "/iam-role", creds: c, body: body})
	return refID(t, op)
}
