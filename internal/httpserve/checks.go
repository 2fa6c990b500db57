package httpserve

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/loopback"
)

const (
	headerSession = "Mcp-Session-Id"
	headerKey     = "X-Exoscale-Api-Key"
	headerSecret  = "X-Exoscale-Api-Secret"
)

// queryCredentialNames may never carry credentials: query strings end up in proxy and access
// logs. Compared in lower case.
var queryCredentialNames = []string{
	"access_token", "api-key", "api_key", "apikey", "api-secret", "api_secret", "apisecret",
	"key", "secret", "token", strings.ToLower(headerKey), strings.ToLower(headerSecret),
}

// queryCredentials refuses (400) a request whose query string names a credential, in any case
// and however it is spelled.
func queryCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if queryHasCredentials(r.URL.RawQuery) {
			refuse(w, http.StatusBadRequest, "credentials are never accepted in the query string: send them in headers")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// queryHasCredentials reads every name in the raw query the way some server or proxy might:
// split at & or ;, unescaped when that works and as written when not, so a malformed pair
// cannot hide one.
func queryHasCredentials(raw string) bool {
	for _, pair := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(pair, "=")
		if u, err := url.QueryUnescape(name); err == nil {
			name = u
		}
		if slices.Contains(queryCredentialNames, strings.ToLower(strings.TrimSpace(name))) {
			return true
		}
	}
	return false
}

// origin refuses (403) a request whose Origin is neither loopback nor in allowed. The spec asks
// servers to validate Origin against DNS rebinding:
// https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning
func origin(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !originAllowed(allowed, o) {
			refuse(w, http.StatusForbidden, "origin not allowed: start the server with --allowed-origins "+o+" to allow it")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func originAllowed(allowed []string, origin string) bool {
	if slices.Contains(allowed, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && loopback.IsHost(u.Hostname())
}

// bearer refuses (401, WWW-Authenticate: Bearer) a request without the operator's token. The
// token is kept as its SHA-256 and compared in constant time, its length included.
func bearer(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		// RFC 7235: the scheme is case-insensitive.
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="exoscale-keys-mcp"`)
			refuse(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tenantCredentials refuses (401) a multi-tenant request without both credential headers.
func tenantCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(headerKey) == "" || r.Header.Get(headerSecret) == "" {
			w.Header().Set("WWW-Authenticate", `Exoscale-Api-Key realm="exoscale-keys-mcp"`)
			refuse(w, http.StatusUnauthorized, "this server signs with each caller's own key: send "+headerKey+" and "+headerSecret)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// credentialTag names the caller's credential in multi-tenant mode: key and secret together,
// hashed, so a wrong secret for someone's key is someone else.
func credentialTag(r *http.Request) string {
	sum := sha256.Sum256([]byte(r.Header.Get(headerKey) + "\x00" + r.Header.Get(headerSecret)))
	return hex.EncodeToString(sum[:])
}

// refuse answers a request that was never allowed to send a body, without reading it, and
// closes the connection: net/http would otherwise read what remains of a small body before it
// writes the answer, and a client trickling one byte at a time would hold the connection.
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Connection", "close")
	httpError(w, status, msg)
	// Ends what net/http reads of the body after the handler at once, too.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
