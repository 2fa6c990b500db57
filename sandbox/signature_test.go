package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type signingVector struct {
	Name, Method, URL, Body, Key, Secret, Authorization string
	Expires                                             int64
}

func loadVectors(t *testing.T) []signingVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/signing-vectors.json")
	require.NoError(t, err)
	var f struct{ Vectors []signingVector }
	require.NoError(t, json.Unmarshal(raw, &f))
	require.NotEmpty(t, f.Vectors)
	return f.Vectors
}

func vectorRequest(t *testing.T, v signingVector) signedRequest {
	t.Helper()
	u, err := url.Parse(v.URL)
	require.NoError(t, err)
	return signedRequest{method: v.Method, escapedPath: u.EscapedPath(), rawQuery: u.RawQuery, body: []byte(v.Body), header: v.Authorization}
}

func TestVerifySignature_AcceptsEveryReferenceVector(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			secretFor := func(k string) (string, bool) { return v.Secret, k == v.Key }
			now := time.Unix(v.Expires-60, 0)

			key, err := verifySignature(vectorRequest(t, v), now, secretFor)
			require.NoError(t, err)
			assert.Equal(t, v.Key, key)

			// The same vector must fail once anything it covers changes.
			tampered := vectorRequest(t, v)
			tampered.body = append(tampered.body, ' ')
			_, err = verifySignature(tampered, now, secretFor)
			assert.ErrorIs(t, err, errBadSignature, "body changed")

			tampered = vectorRequest(t, v)
			tampered.escapedPath += "x"
			_, err = verifySignature(tampered, now, secretFor)
			assert.ErrorIs(t, err, errBadSignature, "path changed")

			_, err = verifySignature(vectorRequest(t, v), time.Unix(v.Expires+1, 0), secretFor)
			assert.ErrorIs(t, err, errExpired)

			_, err = verifySignature(vectorRequest(t, v), now, func(string) (string, bool) { return "", false })
			assert.ErrorIs(t, err, errUnknownKey)

			_, err = verifySignature(vectorRequest(t, v), now, func(string) (string, bool) { return v.Secret + "x", true })
			assert.ErrorIs(t, err, errBadSignature, "other secret")
		})
	}
}

func TestTestSigner_MatchesReferenceVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		u, err := url.Parse(v.URL)
		require.NoError(t, err)
		assert.Equal(t, v.Authorization, testSign(v.Method, u, []byte(v.Body), v.Key, v.Secret, v.Expires), v.Name)
	}
}

// The vectors replayed over HTTP, with the clock set before their expiry: none of them may be
// refused as a bad signature; the status shows the request went on to the handler.
func TestServeHTTP_AcceptsReferenceVectorRequests(t *testing.T) {
	t.Parallel()
	want := map[string]int{
		"V1": http.StatusOK,         // list-api-keys
		"V2": http.StatusOK,         // list-deployments?visibility=private
		"V4": http.StatusBadRequest, // create-api-key: role 6a3c… does not exist
		"V5": http.StatusNotFound,   // update-ai-api-key on an unknown key
		"V7": http.StatusNotFound,   // rotate-ai-api-key on an unknown key
		"V9": http.StatusBadRequest, // "Zürich key" does not match the name pattern
	}
	vectors := loadVectors(t)
	for _, v := range vectors {
		status, ok := want[v.Name]
		if !ok {
			continue // U*: /v2/zone is unsigned and /v2/load-balancer is not served here
		}
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			s := New(WithClock(func() time.Time { return time.Unix(v.Expires-60, 0) }))
			s.mu.Lock()
			s.keys[v.Key] = &iamKey{key: v.Key, name: "vector", roleID: AdminRoleID, secret: v.Secret}
			s.mu.Unlock()

			run := func(auth string) *httptest.ResponseRecorder {
				var body *strings.Reader
				if v.Body != "" {
					body = strings.NewReader(v.Body)
				}
				var r *http.Request
				if body != nil {
					r = httptest.NewRequest(v.Method, v.URL, body)
				} else {
					r = httptest.NewRequest(v.Method, v.URL, nil)
				}
				r.Header.Set("Authorization", auth)
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, r)
				return rec
			}
			rec := run(v.Authorization)
			assert.Equal(t, status, rec.Code, rec.Body.String())

			rec = run(flipSignature(t, v.Authorization))
			assert.Equal(t, http.StatusForbidden, rec.Code)
			assert.JSONEq(t, `{"message":"Invalid request signature"}`, rec.Body.String())
		})
	}
}

func TestServeHTTP_RejectsBadSignaturesWith403(t *testing.T) {
	t.Parallel()
	s := New()
	srv := serverCreds(s)
	aiValue := func() string {
		got := must(t, s, req{method: "GET", path: "/ai/api-key/" + SeedAIKeyID + "/reveal", creds: srv})
		return got["value"].(string)
	}()
	// signedFor builds a valid header for another request than the one sent.
	signedFor := func(method, target, body string, c creds, expires time.Time) string {
		u, err := url.Parse(target)
		require.NoError(t, err)
		return testSign(method, u, []byte(body), c.key, c.secret, expires.Unix())
	}
	later := time.Now().Add(10 * time.Minute)
	tests := []struct {
		name string
		r    req
	}{
		{"no Authorization header", req{method: "GET", path: "/api-key"}},
		{"other scheme", req{method: "GET", path: "/api-key", auth: "Bearer " + srv.secret}},
		{"wrong secret", req{method: "GET", path: "/api-key", creds: creds{srv.key, srv.secret + "x"}}},
		{"expired", req{method: "GET", path: "/api-key", creds: srv, expires: time.Now().Add(-time.Minute)}},
		{"unknown key", req{method: "GET", path: "/api-key", creds: creds{"EXO0123456789abcdef01234567", srv.secret}}},
		{"AI key value as credential", req{method: "GET", path: "/api-key", creds: creds{aiValue, aiValue}}},
		{"body changed after signing", req{method: "POST", path: "/api-key", body: `{"name":"b","role-id":"` + AdminRoleID + `"}`,
			auth: signedFor("POST", "/v2/api-key", `{"name":"a","role-id":"`+AdminRoleID+`"}`, srv, later)}},
		{"other path signed", req{method: "GET", path: "/iam-role", auth: signedFor("GET", "/v2/api-key", "", srv, later)}},
		{"other method signed", req{method: "DELETE", path: "/api-key/EXO000000000000000000000000", auth: signedFor("GET", "/v2/api-key/EXO000000000000000000000000", "", srv, later)}},
		{"query parameter not signed", req{method: "GET", path: "/ai/deployment", query: url.Values{"visibility": {"private"}},
			auth: signedFor("GET", "/v2/ai/deployment", "", srv, later)}},
		{"signed parameter not sent", req{method: "GET", path: "/ai/deployment",
			auth: signedFor("GET", "/v2/ai/deployment?visibility=private", "", srv, later)}},
		{"repeated query parameter", req{method: "GET", path: "/ai/deployment", query: url.Values{"visibility": {"private", "public"}}, creds: srv}},
		{"credential twice", req{method: "GET", path: "/api-key",
			auth: strings.Replace(signedFor("GET", "/v2/api-key", "", srv, later), ",expires=", ",credential="+srv.key+",expires=", 1)}},
		{"missing expires", req{method: "GET", path: "/api-key", auth: "EXO2-HMAC-SHA256 credential=" + srv.key + ",signature=AAAA"}},
		{"signature not base64", req{method: "GET", path: "/api-key", auth: "EXO2-HMAC-SHA256 credential=" + srv.key + ",expires=" + itoa64(later.Unix()) + ",signature=!!"}},
		{"unknown header part", req{method: "GET", path: "/api-key", auth: signedFor("GET", "/v2/api-key", "", srv, later) + ",extra=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := send(t, s, tt.r)
			assert.Equal(t, http.StatusForbidden, res.Status)
			assert.JSONEq(t, `{"message":"Invalid request signature"}`, string(res.Body))
			assert.NotContains(t, string(res.Body), srv.secret)
		})
	}
	t.Run("control: a correctly signed request passes", func(t *testing.T) {
		t.Parallel()
		res := send(t, s, req{method: "GET", path: "/ai/deployment", query: url.Values{"visibility": {"private"}}, creds: srv})
		assert.Equal(t, http.StatusOK, res.Status, string(res.Body))
	})
}

func TestServeHTTP_ListZonesIsPublicAndUnsigned(t *testing.T) {
	t.Parallel()
	s := New()
	ci, ciSecret, ok := s.KeyCredentials(RestrictedKeyName)
	require.True(t, ok)
	for name, r := range map[string]req{
		"unsigned":              {method: "GET", path: "/zone"},
		"garbage Authorization": {method: "GET", path: "/zone", auth: "EXO2-HMAC-SHA256 nonsense"},
		"restricted key":        {method: "GET", path: "/zone", creds: creds{ci, ciSecret}},
	} {
		t.Run(name, func(t *testing.T) {
			got := must(t, s, r)
			zones := got["zones"].([]any)
			require.Len(t, zones, 8)
			first := zones[0].(map[string]any)
			assert.Equal(t, "at-vie-1", first["name"])
			assert.Equal(t, "https://api-at-vie-1.exoscale.com/v2", first["api-endpoint"])
			assert.NotEmpty(t, first["sos-endpoint"])
		})
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// flipSignature returns the header with one bit of its signature changed (still valid base64).
func flipSignature(t *testing.T, header string) string {
	t.Helper()
	i := strings.Index(header, "signature=")
	require.GreaterOrEqual(t, i, 0)
	sig, err := base64.StdEncoding.DecodeString(header[i+len("signature="):])
	require.NoError(t, err)
	sig[0] ^= 1
	return header[:i] + "signature=" + base64.StdEncoding.EncodeToString(sig)
}
