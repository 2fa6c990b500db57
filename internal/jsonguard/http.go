package jsonguard

import "net/http"

// CheckHTTP applies Check to body, a streamable HTTP POST's whole body (a JSON-RPC message)
// that the server has already read and bounded, and when it refuses answers w 400 with the
// JSON-RPC error (the request's id when it can be read, else null: HTTP needs an answer even
// for a notification) and reports false.
func CheckHTTP(w http.ResponseWriter, body []byte) bool {
	err := Check(body)
	if err == nil {
		return true
	}
	reply := Answer(body, err)
	if reply == nil {
		// A notification or a response: HTTP still needs an answer, without an id.
		reply = Answer(nil, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(append(reply, '\n'))
	return false
}
