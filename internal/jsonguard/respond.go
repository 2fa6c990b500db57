package jsonguard

import (
	"bytes"
	"encoding/json"
)

// Answer is how to answer a refused message: Reply is the JSON-RPC error response (one line
// of JSON without the newline), nil when JSON-RPC says not to answer (the message is a
// notification or a response: it has no id to answer, or answering would start a loop).
func Answer(msg []byte, refusal error) (reply []byte) {
	code, text := CodeInvalidRequest, refusal.Error()
	if e, ok := refusal.(*Error); ok {
		code = e.Code
	}
	id := json.RawMessage("null")
	var head struct {
		ID     json.RawMessage `json:"id"`
		Method *string         `json:"method"`
	}
	if json.Unmarshal(msg, &head) == nil {
		if head.Method == nil || len(head.ID) == 0 || bytes.Equal(head.ID, []byte("null")) {
			return nil // a response, or a notification: no answer
		}
		if validID(head.ID) {
			id = head.ID
		}
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcError        `json:"error"`
	}{"2.0", id, rpcError{Code: code, Message: text}})
	return b
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// validID reports whether raw is a JSON-RPC id we can echo: a string, or a number within the
// safe integer range (an id that is itself the unsafe number is answered with null).
func validID(raw json.RawMessage) bool {
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		return json.Unmarshal(raw, &s) == nil && len(s) <= 256
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		var n json.Number
		return json.Unmarshal(raw, &n) == nil && checkNumber("", n) == nil
	}
	return false
}
