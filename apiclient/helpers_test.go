package apiclient

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCreds are the credentials of most tests; the secret is distinctive so that a leak is
// easy to spot in any output.
var testCreds = Credentials{Key: "EXOtestkey0123456789abcdef", Secret: "sEcReT-VaLuE-0123456789-zyxwvutsrq"}

// server is an httptest server that counts the requests it receives.
type server struct {
	*httptest.Server
	n atomic.Int64
}

// newServer serves handler; n is the 1-based number of the request.
func newServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, n int)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler(w, r, int(s.n.Add(1)))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count() int { return int(s.n.Load()) }

// endpoint is the server's API base URL.
func (s *server) endpoint() string { return s.URL + "/v2" }

// noWait is a Config.Backoff that retries at once.
func noWait(int, time.Duration) time.Duration { return 0 }

// newTestClient builds a client with fast retries and polls for tests.
func newTestClient(t *testing.T, endpoint string, mods ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Endpoint:    endpoint,
		Credentials: testCreds,
		RetryBase:   time.Millisecond,
		RetryMax:    20 * time.Millisecond,
		Backoff:     noWait, // retries at once: tests never wait out a backoff
		Timeout:     5 * time.Second,
		Poll: PollConfig{
			First:        time.Millisecond,
			Interval:     2 * time.Millisecond,
			SlowAfter:    50 * time.Millisecond,
			SlowInterval: 3 * time.Millisecond,
			Max:          10 * time.Millisecond,
		},
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

// dropConnection closes the connection without answering, after reading the whole request.
func dropConnection(t *testing.T, w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("response writer cannot hijack")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	_ = conn.Close()
}

// verifySignature checks an incoming request the way the Exoscale API would, independently of
// Authorization: the path is taken from the raw request line, so a mismatch between what was
// signed and what went on the wire fails.
func verifySignature(r *http.Request, body []byte, creds Credentials) error {
	h := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(h, "EXO2-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("bad scheme in %q", h)
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("bad field %q", kv)
		}
		fields[k] = v
	}
	if fields["credential"] != creds.Key {
		return fmt.Errorf("credential %q", fields["credential"])
	}
	expires, err := strconv.ParseInt(fields["expires"], 10, 64)
	if err != nil {
		return err
	}
	wirePath, _, _ := strings.Cut(r.RequestURI, "?")
	q := r.URL.Query()
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	var values string
	for _, n := range names {
		values += q.Get(n)
	}
	if got, want := fields["signed-query-args"], strings.Join(names, ";"); got != want {
		return fmt.Errorf("signed-query-args %q, want %q", got, want)
	}
	msg := r.Method + " " + wirePath + "\n" + string(body) + "\n" + values + "\n\n" + strconv.FormatInt(expires, 10)
	mac := hmac.New(sha256.New, []byte(creds.Secret))
	mac.Write([]byte(msg))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); fields["signature"] != want {
		return fmt.Errorf("signature mismatch for %q", msg)
	}
	return nil
}
