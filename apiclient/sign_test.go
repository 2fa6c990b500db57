package apiclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
	Name          string `json:"name"`
	Method        string `json:"method"`
	URL           string `json:"url"`
	Body          string `json:"body"`
	Key           string `json:"key"`
	Secret        string `json:"secret"`
	Expires       int64  `json:"expires"`
	Authorization string `json:"authorization"`
}

func loadVectors(t *testing.T) []signingVector {
	t.Helper()
	data, err := os.ReadFile("testdata/signing-vectors.json")
	require.NoError(t, err)
	var file struct {
		Vectors []signingVector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(data, &file))
	require.NotEmpty(t, file.Vectors)
	return file.Vectors
}

func TestAuthorization_MatchesEveryReferenceVector(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(v.URL)
			require.NoError(t, err)
			got := Authorization(v.Method, u, []byte(v.Body), Credentials{Key: v.Key, Secret: v.Secret}, time.Unix(v.Expires, 0))
			assert.Equal(t, v.Authorization, got)
		})
	}
}

// The client must produce the reference header too, from a Request as tools build it: this
// pins BuildHTTPRequest's URL building, body handling and expiry (now + 10 min).
func TestBuildHTTPRequest_SignsLikeTheReferenceVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(v.URL)
			require.NoError(t, err)
			c, err := New(Config{
				Endpoint:    u.Scheme + "://" + u.Host + "/v2",
				Credentials: Credentials{Key: v.Key, Secret: v.Secret},
				Now:         func() time.Time { return time.Unix(v.Expires, 0).Add(-10 * time.Minute) },
			})
			require.NoError(t, err)
			req := Request{Operation: v.Name, Method: v.Method, Path: strings.TrimPrefix(u.EscapedPath(), "/v2"), Query: u.Query()}
			if v.Body != "" {
				req.Body = []byte(v.Body)
			}
			hreq, err := c.BuildHTTPRequest(context.Background(), req)
			require.NoError(t, err)
			assert.Equal(t, v.Authorization, hreq.Header.Get("Authorization"))
			assert.Equal(t, v.URL, hreq.URL.String())
		})
	}
}

func TestAuthorization_SignsEscapedPathAndSortedDecodedQuery(t *testing.T) {
	t.Parallel()
	creds := Credentials{Key: "EXOk", Secret: "s"}
	exp := time.Unix(1893456000, 0)
	tests := []struct {
		name       string
		rawURL     string
		wantArgs   string // signed-query-args, "" = absent
		samePathAs string // a URL whose signature must differ (path escaping matters)
	}{
		{name: "colon stays literal", rawURL: "https://h/v2/iam-role/6a3c5a77-1b1e-4f57-9d2e-0b8e5c6f8a11:policy"},
		{name: "query names sorted byte-wise", rawURL: "https://h/v2/x?b=2&B=1&a=3", wantArgs: "B;a;b"},
		{name: "escaped slash kept escaped", rawURL: "https://h/v2/api-key/a%2Fb", samePathAs: "https://h/v2/api-key/a/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.rawURL)
			require.NoError(t, err)
			h := Authorization("get", u, nil, creds, exp)
			assert.True(t, strings.HasPrefix(h, "EXO2-HMAC-SHA256 credential=EXOk,"), h)
			if tt.wantArgs != "" {
				assert.Contains(t, h, ",signed-query-args="+tt.wantArgs+",")
			} else {
				assert.NotContains(t, h, "signed-query-args")
			}
			if tt.samePathAs != "" {
				u2, err := url.Parse(tt.samePathAs)
				require.NoError(t, err)
				assert.NotEqual(t, h, Authorization("GET", u2, nil, creds, exp))
			}
		})
	}
}

func TestAuthorization_QueryValuesAreSignedDecoded(t *testing.T) {
	t.Parallel()
	creds := Credentials{Key: "EXOk", Secret: "s"}
	exp := time.Unix(1893456000, 0)
	a, _ := url.Parse("https://h/v2/x?name=a%20b")
	b, _ := url.Parse("https://h/v2/x?name=a+b")
	// Both encodings decode to "a b": the signatures must agree.
	assert.Equal(t, Authorization("GET", a, nil, creds, exp), Authorization("GET", b, nil, creds, exp))
}

// FuzzAuthorization: whatever the request, the header is well formed, deterministic, carries a
// 32-byte signature and never contains the secret.
func FuzzAuthorization(f *testing.F) {
	f.Add("GET", "https://api-ch-gva-2.exoscale.com/v2/api-key", []byte(""), "EXOtestkey", "testsecret", int64(1893456000))
	f.Add("POST", "https://api-ch-gva-2.exoscale.com/v2/ai/api-key?x=1&y=", []byte(`{"name":"Zürich key"}`), "EXOk", "sEcReT-VaLuE", int64(0))
	f.Fuzz(func(t *testing.T, method, rawURL string, body []byte, key, secret string, expires int64) {
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Skip()
		}
		creds := Credentials{Key: key, Secret: secret}
		exp := time.Unix(expires, 0)
		h := Authorization(method, u, body, creds, exp)
		require.Equal(t, h, Authorization(method, u, body, creds, exp), "deterministic")
		rest, ok := strings.CutPrefix(h, "EXO2-HMAC-SHA256 credential="+key)
		require.True(t, ok, h)
		i := strings.LastIndex(rest, ",signature=")
		require.GreaterOrEqual(t, i, 0, h)
		sig, err := base64.StdEncoding.DecodeString(rest[i+len(",signature="):])
		require.NoError(t, err)
		require.Len(t, sig, 32)
		require.Contains(t, rest[:i], ",expires="+strconv.FormatInt(expires, 10))
		var names strings.Builder
		for n := range u.Query() {
			names.WriteString(n + ";")
		}
		if len(secret) >= 8 && !strings.Contains(key, secret) && !strings.Contains(names.String(), secret) {
			require.NotContains(t, h, secret)
		}
	})
}
