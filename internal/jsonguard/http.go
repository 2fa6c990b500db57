package jsonguard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Middleware applies Check to the body of every POST (the streamable HTTP transport's
// JSON-RPC messages) before next sees it: a refused message is answered 400 with a JSON-RPC
// error (the request's id when it can be read, else null), a body over MaxMessageBytes 413.
// Other methods pass untouched. It reads the body whole (bounded), so put it after the
// authentication and body-size checks.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxMessageBytes+1))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig) || len(body) > MaxMessageBytes:
			limit := int64(MaxMessageBytes)
			if tooBig != nil {
				limit = tooBig.Limit
			}
			refuseHTTP(w, http.StatusRequestEntityTooLarge, nil, &Error{Code: CodeParseError, Reason: fmt.Sprintf("parse error: message longer than %d bytes", limit)})
			return
		case err != nil:
			refuseHTTP(w, http.StatusBadRequest, nil, &Error{Code: CodeParseError, Reason: "parse error: the request body could not be read"})
			return
		}
		if !CheckHTTP(w, body) {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// CheckHTTP applies Check to body, a POST's whole body already in memory, and when it refuses
// answers w 400 with the JSON-RPC error and reports false. For a server that reads and bounds
// the body itself: it spares reading it a second time.
func CheckHTTP(w http.ResponseWriter, body []byte) bool {
	if err := Check(body); err != nil {
		refuseHTTP(w, http.StatusBadRequest, body, err)
		return false
	}
	return true
}

func refuseHTTP(w http.ResponseWriter, status int, body []byte, err error) {
	reply := Answer(body, err)
	if reply == nil {
		// A notification or a response: HTTP still needs an answer, without an id.
		reply = Answer(nil, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(reply, '\n'))
}
