package httpserve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/jsonguard"
)

// readDeadline gives a request d to deliver its body after its headers. net/http lifts the
// deadline itself once the body has been read to its end (it then watches the connection for
// the client going away), so a long call is not cut by it. A request without a body gets none:
// the watch has already begun, and a deadline would end it with the request. net/http's own
// ReadTimeout cannot do this: it would also end every listening stream that outlives it.
func readDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d > 0 && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

// bodyLimit reads a POST's body whole, at most max bytes, so that an oversized one is a 413
// from us and not a parse error from mcp-go, and one that does not arrive in time is a 408.
// The body is handed on in memory.
func bodyLimit(max int64, next http.Handler) http.Handler {
	tooLarge := fmt.Sprintf("request body over %d bytes", max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			refuse(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			refuse(w, http.StatusRequestTimeout, "the request body did not arrive in time (--read-timeout)")
			return
		case err != nil:
			refuse(w, http.StatusBadRequest, "reading the request body failed")
			return
		case int64(len(body)) > max:
			refuse(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		r.Body = newMemBody(body)
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// memBody is a request body already read into memory.
type memBody struct {
	*bytes.Reader
	data []byte

	decoded bool   // name holds the JSON-RPC method
	name    string // "" for none (a response, a batch, not JSON)
}

// method is the body's JSON-RPC method, decoded once for every check that asks (a request is
// served by one goroutine, so no lock).
func (b *memBody) method() string {
	if !b.decoded {
		b.decoded = true
		var msg struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(b.data, &msg) == nil {
			b.name = msg.Method
		}
	}
	return b.name
}

// postMethod is the JSON-RPC method of a POST whose body [bodyLimit] read, else "".
func postMethod(r *http.Request) string {
	if body, ok := r.Body.(*memBody); ok && r.Method == http.MethodPost {
		return body.method()
	}
	return ""
}

func newMemBody(data []byte) *memBody { return &memBody{Reader: bytes.NewReader(data), data: data} }

// Close does nothing: there is nothing left to release.
func (*memBody) Close() error { return nil }

// guardJSON applies jsonguard's checks to the non-empty body [bodyLimit] read (an empty one
// is left to mcp-go's parse error, as before); the body is handed on as it came.
func guardJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := r.Body.(*memBody); ok && len(body.data) > 0 && !jsonguard.CheckHTTP(w, body.data) {
			return
		}
		next.ServeHTTP(w, r)
	})
}
