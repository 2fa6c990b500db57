package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// authScheme is the Authorization scheme of Exoscale API v2.
const authScheme = "EXO2-HMAC-SHA256"

// Reasons a signature is rejected. They stay inside the sandbox (the client always gets the same
// 403 "Invalid request signature", like the real API) but make the verifier testable by cause.
// None of them carries the header, the signature or a secret.
var (
	errNoAuth       = errors.New("missing or malformed Authorization header")
	errExpired      = errors.New("signature expired")
	errUnknownKey   = errors.New("unknown API key")
	errBadSignature = errors.New("signature mismatch")
	errQueryArgs    = errors.New("query parameters do not match signed-query-args")
)

// authorization is a parsed EXO2-HMAC-SHA256 Authorization header.
type authorization struct {
	credential string
	signedArgs []string // as listed in signed-query-args
	expires    int64
	signature  []byte // decoded
}

// parseAuthorization parses
// "EXO2-HMAC-SHA256 credential=<key>[,signed-query-args=a;b],expires=<unix>,signature=<b64>".
// Every part but signed-query-args is required; unknown or repeated parts are rejected.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, authScheme+" ")
	if !ok {
		return a, errNoAuth
	}
	var seen [4]bool
	for part := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errNoAuth
		}
		idx := -1
		switch name {
		case "credential":
			idx = 0
			a.credential = value
		case "signed-query-args":
			idx = 1
			if value == "" {
				return a, errNoAuth
			}
			a.signedArgs = strings.Split(value, ";")
		case "expires":
			idx = 2
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return a, errNoAuth
			}
			a.expires = n
		case "signature":
			idx = 3
			sig, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				return a, errNoAuth
			}
			a.signature = sig
		default:
			return a, errNoAuth
		}
		if seen[idx] {
			return a, errNoAuth
		}
		seen[idx] = true
	}
	if !seen[0] || !seen[2] || !seen[3] || a.credential == "" {
		return a, errNoAuth
	}
	return a, nil
}

// signedRequest is what a signature covers.
type signedRequest struct {
	method      string
	escapedPath string // as sent on the wire, including /v2
	rawQuery    string
	body        []byte
	header      string // the Authorization header value
}

// verifySignature checks req's EXO2-HMAC-SHA256 signature at time now, looking the key's secret
// up with secretFor, and returns the key on success.
func verifySignature(req signedRequest, now time.Time, secretFor func(key string) (string, bool)) (string, error) {
	a, err := parseAuthorization(req.header)
	if err != nil {
		return "", err
	}
	if a.expires < now.Unix() {
		return "", errExpired
	}
	values, names, err := signedQuery(req.rawQuery, a.signedArgs)
	if err != nil {
		return "", err
	}
	secret, ok := secretFor(a.credential)
	if !ok {
		return "", errUnknownKey
	}
	mac := hmac.New(sha256.New, []byte(secret))
	writeStringToSign(mac, req.method, req.escapedPath, req.body, values, names, a.expires)
	if !hmac.Equal(mac.Sum(nil), a.signature) {
		return "", errBadSignature
	}
	return a.credential, nil
}

// signedQuery parses the query and checks that its parameter names are exactly the signed ones,
// each present once. It returns the values and the names sorted byte-wise, the order in which
// the values are signed.
func signedQuery(rawQuery string, signed []string) (url.Values, []string, error) {
	if rawQuery == "" {
		if len(signed) > 0 {
			return nil, nil, errQueryArgs
		}
		return nil, nil, nil
	}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, nil, errQueryArgs
	}
	if len(values) != len(signed) {
		return nil, nil, errQueryArgs
	}
	for _, vs := range values {
		if len(vs) != 1 { // repeated parameters: the official clients disagree on how to sign them
			return nil, nil, errQueryArgs
		}
	}
	names := slices.Clone(signed)
	slices.Sort(names)
	for i, n := range names {
		if i > 0 && names[i-1] == n {
			return nil, nil, errQueryArgs
		}
		if _, ok := values[n]; !ok {
			return nil, nil, errQueryArgs
		}
	}
	return values, names, nil
}

// writeStringToSign writes the five LF-separated parts of Exoscale's string to sign:
// "METHOD path", body, query values in name order, signed headers (always empty), expiry.
func writeStringToSign(w io.Writer, method, escapedPath string, body []byte, values url.Values, names []string, expires int64) {
	var b strings.Builder
	b.Grow(len(method) + len(escapedPath) + 32)
	b.WriteString(strings.ToUpper(method))
	b.WriteByte(' ')
	b.WriteString(escapedPath)
	b.WriteByte('\n')
	_, _ = w.Write([]byte(b.String()))
	_, _ = w.Write(body)
	b.Reset()
	b.WriteByte('\n')
	for _, n := range names {
		b.WriteString(values.Get(n))
	}
	b.WriteString("\n\n")
	b.WriteString(strconv.FormatInt(expires, 10))
	_, _ = w.Write([]byte(b.String()))
}
