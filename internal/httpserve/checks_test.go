package httpserve

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueryCredentials_RefusedHoweverSpelled: credentials in the query string are refused
// (400) in any case and however the query is spelled, and the refusal does not echo them.
func TestQueryCredentials_RefusedHoweverSpelled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query   string
		refused bool
	}{
		{"api_key=EXOabc", true},
		{"API_KEY=EXOabc", true},
		{"Api_Secret=s3cr3tvalue", true},
		{"key=EXOabc", true},
		{"Key=EXOabc", true},
		{"secret=s3cr3tvalue", true},
		{"SECRET=s3cr3tvalue", true},
		{"token=s3cr3tvalue", true},
		{"ToKeN=s3cr3tvalue", true},
		{"access_token=s3cr3tvalue", true},
		{"Access_Token=s3cr3tvalue", true},
		{"api-key=EXOabc", true},
		{"apikey=EXOabc", true},
		{"ApiKey=EXOabc", true},
		{"api_secret=s3cr3tvalue", true},
		{"X-Exoscale-Api-Secret=s3cr3tvalue", true},
		{"x-exoscale-api-key=EXOabc", true},
		{"foo=1&api_secret=s3cr3tvalue", true},
		{"secret", true},
		{"api%5Fkey=EXOabc", true},          // escaped name
		{"secret=s3cr3tvalue%zz", true},     // a value that does not unescape
		{"foo=1;secret=s3cr3tvalue", true},  // ; separator
		{"foo=%zz&token=s3cr3tvalue", true}, // after a malformed pair
		{"zone=ch-gva-2", false},            // harmless
		{"foo=bar&keys=1&secrets=2", false}, // not a credential name
		{"", false},
	} {
		next := &ok{}
		h := queryCredentials(next)
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			r := req(method, pingBody)
			r.URL.RawQuery = tc.query
			w := serve(h, r)
			if !tc.refused {
				assert.Equal(t, http.StatusOK, w.Code, tc.query)
				continue
			}
			assert.Equal(t, http.StatusBadRequest, w.Code, tc.query)
			assert.Contains(t, w.Body.String(), "query string")
			assert.NotContains(t, w.Body.String(), "s3cr3tvalue")
			assert.NotContains(t, w.Body.String(), "EXOabc")
			assert.Equal(t, "close", w.Header().Get("Connection"))
		}
		if tc.refused {
			assert.Zero(t, next.calls, tc.query)
		}
	}
}

// TestOrigin_LoopbackOrAllowedOnly: a present Origin must be loopback or listed (DNS
// rebinding); the refusal says which flag allows it.
func TestOrigin_LoopbackOrAllowedOnly(t *testing.T) {
	t.Parallel()
	h := origin([]string{"https://app.example.com", "https://other.example.com"}, &ok{})
	for o, allowed := range map[string]bool{
		"":                                     true,
		"http://localhost":                     true,
		"http://LOCALHOST:3000":                true,
		"http://127.0.0.1:8080":                true,
		"https://[::1]:8443":                   true,
		"https://app.example.com":              true,
		"https://other.example.com":            true,
		"https://evil.example":                 false,
		"http://evil.example:8080":             false,
		"http://localhost.evil.example":        false,
		"http://127.0.0.1.nip.io":              false,
		"https://app.example.com.evil.example": false,
		"http://app.example.com":               false, // wrong scheme
		"null":                                 false,
		"file://":                              false,
		"chrome-extension://abcdef":            false,
	} {
		w := serve(h, req(http.MethodPost, pingBody, "Origin", o))
		if allowed {
			assert.Equal(t, http.StatusOK, w.Code, o)
			continue
		}
		assert.Equal(t, http.StatusForbidden, w.Code, o)
		assert.Contains(t, w.Body.String(), "origin not allowed")
		assert.Contains(t, w.Body.String(), "--allowed-origins", "the refusal says what to do")
		assert.Equal(t, "close", w.Header().Get("Connection"))
	}
}

// TestBearer_ExactTokenOnly: 401 with WWW-Authenticate: Bearer unless the request carries the
// token; the scheme is case-insensitive (RFC 7235); the answer never echoes the token.
func TestBearer_ExactTokenOnly(t *testing.T) {
	t.Parallel()
	const token = "tok-3f9a1c77e2d04b6b9d1e"
	h := bearer(token, &ok{})
	for _, tc := range []struct {
		name, authorization string
		want                int
	}{
		{"no Authorization", "", http.StatusUnauthorized},
		{"wrong token", "Bearer tok-3f9a1c77e2d04b6b9d1f", http.StatusUnauthorized},
		{"token with a suffix", "Bearer " + token + "x", http.StatusUnauthorized},
		{"a prefix of the token", "Bearer " + token[:10], http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"token without a scheme", token, http.StatusUnauthorized},
		{"basic auth", "Basic " + token, http.StatusUnauthorized},
		{"right token", "Bearer " + token, http.StatusOK},
		{"scheme in lower case", "bearer " + token, http.StatusOK},
	} {
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
			w := serve(h, req(method, "", "Authorization", tc.authorization))
			require.Equal(t, tc.want, w.Code, "%s %s", tc.name, method)
			if tc.want == http.StatusUnauthorized {
				assert.True(t, strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer"))
				assert.Contains(t, w.Body.String(), "bearer token")
				assert.NotContains(t, w.Body.String(), token[:10])
				assert.Equal(t, "close", w.Header().Get("Connection"))
			}
		}
	}
}

// TestTenantCredentials_BothHeadersNeeded: a multi-tenant request without both credential
// headers is a 401 that names them.
func TestTenantCredentials_BothHeadersNeeded(t *testing.T) {
	t.Parallel()
	h := tenantCredentials(&ok{})
	for name, hdr := range map[string][]string{
		"none":         nil,
		"key only":     {headerKey, "EXOabc"},
		"secret only":  {headerSecret, "s3cr3t"},
		"empty values": {headerKey, "", headerSecret, ""},
	} {
		w := serve(h, req(http.MethodPost, pingBody, hdr...))
		require.Equal(t, http.StatusUnauthorized, w.Code, name)
		assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))
		assert.Contains(t, w.Body.String(), headerKey)
		assert.Contains(t, w.Body.String(), headerSecret)
	}
	assert.Equal(t, http.StatusOK, serve(h, req(http.MethodPost, pingBody, headerKey, "EXOabc", headerSecret, "s3cr3t")).Code)
}

// TestRefusal_AnsweredAtOnceWithoutTheBody: a client that sends its headers and part of a
// body it may not send gets its 401 (or 403) while the rest of the body is still missing,
// with Connection: close. The rest never comes: a server waiting for it would answer only at
// the test's deadline, and fail.
func TestRefusal_AnsweredAtOnceWithoutTheBody(t *testing.T) {
	t.Parallel()
	h, _ := endpoint(t, "the-token")
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	for name, hdr := range map[string]string{
		"no bearer token":    "",
		"a forbidden Origin": "Authorization: Bearer the-token\r\nOrigin: https://evil.example\r\n",
	} {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
		_, err = conn.Write([]byte("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
			"Accept: application/json, text/event-stream\r\n" + hdr + "Content-Length: 1000\r\n\r\n{\"jsonrpc\":"))
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, "%s: no answer before the body was complete", name)
		resp.Body.Close()
		want := map[string]int{"no bearer token": http.StatusUnauthorized, "a forbidden Origin": http.StatusForbidden}[name]
		assert.Equal(t, want, resp.StatusCode, name)
		assert.True(t, resp.Close, "%s: Connection: close", name)
	}
}

func TestHTTPError_IsJSON(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	httpError(w, http.StatusTeapot, "short and stout")
	var e map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
	assert.Equal(t, "short and stout", e["error"])
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
}

// FuzzQueryHasCredentials: nothing written before a credential name hides it.
func FuzzQueryHasCredentials(f *testing.F) {
	for _, s := range []string{"", "a=b", "%zz", "a=b;c", "&&;;", "x=%", "access_token"} {
		f.Add(s, "secret")
	}
	f.Fuzz(func(t *testing.T, prefix, name string) {
		if !slices.Contains(queryCredentialNames, strings.ToLower(name)) {
			name = "apikey"
		}
		if !queryHasCredentials(prefix + "&" + name + "=v") {
			t.Fatalf("%q hides %q", prefix, name)
		}
	})
}
