package httpserve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// readDeadline gives a request d to deliver its body after its headers; the deadline is lifted
// once the body has been read to its end, so a long call or stream is not cut by it. A request
// without a body gets no deadline (its connection is watched by net/http for the client going
// away, and a deadline would end that watch with the request). net/http's own ReadTimeout
// cannot do this: it would also end every stream that outlives it.
func readDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(d)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when its body has been read to the end.
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// bodyLimit reads a POST's body whole, at most max bytes, so that an oversized one is a 413
// from us and not a parse error from mcp-go, and one that does not arrive in time is a 408.
// The body is handed on in memory.
func bodyLimit(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		tooLarge := fmt.Sprintf("request body over %d bytes", max)
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
}

func newMemBody(data []byte) *memBody { return &memBody{Reader: bytes.NewReader(data), data: data} }

// Close does nothing: there is nothing left to release.
func (*memBody) Close() error { return nil }
