package apiclient

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// authScheme is the Authorization scheme of Exoscale API v2 requests.
const authScheme = "EXO2-HMAC-SHA256"

// signatureTTL is how long a signature stays valid; every official client uses 10 minutes.
const signatureTTL = 10 * time.Minute

// Authorization returns the EXO2-HMAC-SHA256 Authorization header value for a request as it
// goes on the wire (Exoscale's EXO2-HMAC-SHA256 scheme, as the official clients sign).
//
// The string to sign is five LF-joined parts: "METHOD PATH" where PATH is u.EscapedPath()
// (the percent-escaped path exactly as sent, so ":" stays literal), the exact body bytes, the
// URL-decoded query values concatenated in byte-wise order of their names, the signed header
// values (always empty) and the expiry in Unix seconds. Like egoscale's signer, only query
// parameters with exactly one value are signed; Do never sends any other kind, because the
// official signers disagree on them.
func Authorization(method string, u *url.URL, body []byte, creds Credentials, expires time.Time) string {
	names, values := signedQuery(u)
	exp := strconv.FormatInt(expires.Unix(), 10)

	var msg strings.Builder
	msg.Grow(len(method) + len(body) + len(values) + 64)
	msg.WriteString(strings.ToUpper(method))
	msg.WriteByte(' ')
	msg.WriteString(u.EscapedPath())
	msg.WriteByte('\n')
	msg.Write(body)
	msg.WriteByte('\n')
	msg.WriteString(values)
	msg.WriteByte('\n')
	// Signed header values: none, the part stays empty.
	msg.WriteByte('\n')
	msg.WriteString(exp)

	mac := hmac.New(sha256.New, []byte(creds.Secret))
	mac.Write([]byte(msg.String()))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))

	var h strings.Builder
	h.WriteString(authScheme)
	h.WriteString(" credential=")
	h.WriteString(creds.Key)
	if len(names) > 0 {
		h.WriteString(",signed-query-args=")
		h.WriteString(strings.Join(names, ";"))
	}
	h.WriteString(",expires=")
	h.WriteString(exp)
	h.WriteString(",signature=")
	h.WriteString(sig)
	return h.String()
}

// signedQuery returns the sorted names of the single-valued query parameters of u and their
// decoded values concatenated in that order.
func signedQuery(u *url.URL) ([]string, string) {
	if u.RawQuery == "" {
		return nil, ""
	}
	q, _ := url.ParseQuery(u.RawQuery) // best effort, as the reference signers do
	names := make([]string, 0, len(q))
	for name, vals := range q {
		if len(vals) == 1 {
			names = append(names, name)
		}
	}
	sort.Strings(names) // byte-wise
	var values strings.Builder
	for _, name := range names {
		values.WriteString(q[name][0])
	}
	return names, values.String()
}
