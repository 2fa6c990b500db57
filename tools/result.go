package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Outcome is how a call ended. Its String is the word the audit log records.
type Outcome int

// The outcomes. The zero value is not an outcome: a Result always sets one.
const (
	// OK: the call did what it was asked.
	OK Outcome = iota + 1
	// Invalid: the arguments do not fit the tool; nothing was sent.
	Invalid
	// Refused: a guard or the operator's settings refused the call; nothing was sent.
	Refused
	// DryRun: the call was validated and guarded, and its request shown; nothing was sent.
	DryRun
	// Declined: the human said no; nothing was sent.
	Declined
	// Failed: Exoscale refused, failed, or did not answer in time.
	Failed
	// NeedsInput: the call waits for the human's answer to Result.Question; the client calls
	// again with it (MCP multi round-trip requests).
	NeedsInput
)

var outcomeWords = [...]string{"", "ok", "invalid", "refused", "dry-run", "declined", "error", "confirming"}

// String returns the audit log's word for the outcome: ok, invalid, refused, dry-run,
// declined, error, confirming.
func (o Outcome) String() string {
	if o > 0 && int(o) < len(outcomeWords) {
		return outcomeWords[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Result is what a tool call answers, independent of any MCP library.
type Result struct {
	Outcome Outcome
	// Value is the structured answer: a JSON object (nil for an error). For a read it is
	// Exoscale's own JSON, compacted, never decoded.
	Value json.RawMessage
	// Note is a line said before the value (where a secret went, what a dry run shows).
	Note string
	// Text is the user-facing text of a non-OK outcome: what happened and what to do next.
	Text string
	// Question is what to ask the human when Outcome is NeedsInput; State is the sealed
	// request state the client echoes back with the answer.
	Question *Question
	State    string
	// Status is the HTTP status Exoscale answered a failed call with (0 when it did not
	// answer, or the call failed before anything was sent), for a composite that decides by it.
	Status int
}

// IsError reports whether the outcome is one a model must act on as a failure.
func (r Result) IsError() bool {
	switch r.Outcome {
	case OK, DryRun, NeedsInput:
		return false
	}
	return true
}

// Object decodes Value as a JSON object (numbers as json.Number), for composite tools that
// read a step's answer.
func (r Result) Object() (map[string]any, error) {
	if len(r.Value) == 0 {
		return nil, errors.New("the result holds no value")
	}
	return decodeObject(r.Value)
}

// fail returns a non-OK result with its text.
func fail(o Outcome, format string, args ...any) Result {
	return Result{Outcome: o, Text: fmt.Sprintf(format, args...)}
}

// Failure returns a result with a non-OK outcome and the text that says what happened and
// what to do next.
func Failure(o Outcome, text string) Result { return Result{Outcome: o, Text: text} }

// ValueResult encodes v (a map or struct that encodes as a JSON object) as the result's value,
// with an optional note. The error is a bug: v does not encode.
func ValueResult(o Outcome, v any, note string) (Result, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Result{}, fmt.Errorf("tools: encoding a result: %w", err)
	}
	return Result{Outcome: o, Value: b, Note: note}, nil
}

// compactObject returns body compacted when it is a JSON object, or nil.
func compactObject(body []byte) json.RawMessage {
	var buf bytes.Buffer
	buf.Grow(len(body))
	if err := json.Compact(&buf, body); err != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil
	}
	return buf.Bytes()
}

// decodeObject parses an API answer; an empty body (delete-ai-api-key may answer 204) is an
// empty object.
func decodeObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("null")
	}
	return out, nil
}
