package apiclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits that keep a rendered error one short line whatever the server sent.
const (
	maxPartRunes   = 300  // one title, detail or message
	maxFieldRunes  = 200  // one field error
	maxFields      = 10   // field errors shown; the rest are counted
	maxStoredRunes = 2048 // plain-text bodies kept in Message
)

// FieldError is one field-level complaint of an RFC 9457 problem ("errors" member).
type FieldError struct {
	Path   string // the field, e.g. "name" (from "path", else "pointer", else "location")
	Detail string // what is wrong with it
}

// Error is a non-2xx answer of the Exoscale API, whichever of the five body shapes came back
// (Exoscale answers errors in all of them, depending on the service and the layer that
// refused): RFC 9457 problem details, {"message":…}, {"error":…}, {"code":…,"error":…} or
// plain text. It keeps what the API said so that a model can act on it.
type Error struct {
	Operation string // operationId of the call, e.g. "create-ai-api-key"
	Status    int    // HTTP status

	Type   string // problem "type"
	Title  string // problem "title"
	Detail string // problem "detail"
	// Message is the "message" member, the "error" member of shapes 3 and 4, or the text of a
	// plain-text body.
	Message string

	Code       string        // shape 4's "code", e.g. "forbidden_operation"
	Fields     []FieldError  // problem "errors"
	RetryAfter time.Duration // from the Retry-After header or a "retry_after" body field; 0 = none
}

// Error renders the error as one line a model can act on:
//
//	create-ai-api-key: 400 Invalid Request Body: name: does not match pattern …
//
// Every part is stripped of line breaks and control characters and shortened, so a hostile
// or huge body cannot turn it into several lines or a wall of text.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Operation != "" {
		b.WriteString(oneLine(e.Operation, maxPartRunes))
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.Status))

	summary := oneLine(e.Title, maxPartRunes)
	if summary == "" {
		summary = http.StatusText(e.Status)
	}
	if summary != "" {
		b.WriteString(" ")
		b.WriteString(summary)
	}

	seen := []string{summary}
	for _, part := range []string{e.Detail, e.Message} {
		p := newClauses(seen, oneLine(part, maxPartRunes))
		if p == "" {
			continue
		}
		seen = append(seen, p)
		b.WriteString(": ")
		b.WriteString(p)
	}

	if len(e.Fields) > 0 {
		shown := e.Fields
		if len(shown) > maxFields {
			shown = shown[:maxFields]
		}
		parts := make([]string, 0, len(shown)+1)
		for _, f := range shown {
			path, detail := oneLine(f.Path, maxFieldRunes/2), oneLine(f.Detail, maxFieldRunes)
			switch {
			case detail != "" && (saidBefore(seen, path+": "+detail) || saidBefore(seen, detail)):
				// The detail already summarised this field (Exoscale's problem bodies do):
				// saying it again only makes the model read one sentence twice.
			case path != "" && detail != "":
				parts = append(parts, path+": "+detail)
			case detail != "":
				parts = append(parts, detail)
			case path != "":
				parts = append(parts, path+": invalid")
			}
		}
		if extra := len(e.Fields) - len(shown); extra > 0 {
			parts = append(parts, fmt.Sprintf("and %d more", extra))
		}
		if len(parts) > 0 {
			b.WriteString(": ")
			b.WriteString(strings.Join(parts, "; "))
		}
	}

	if code := oneLine(e.Code, 64); code != "" {
		b.WriteString(" (")
		b.WriteString(code)
		b.WriteString(")")
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after ")
		b.WriteString(e.RetryAfter.Round(time.Second).String())
		b.WriteString(")")
	}
	return b.String()
}

// retryableStatus reports whether a GET or PUT that got this status may be sent again.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// ParseError builds the *Error for a non-2xx response of any of the five body shapes. It never
// fails: a body it cannot make sense of becomes (a shortened form of) the message.
func ParseError(operation string, status int, header http.Header, body []byte) *Error {
	e := &Error{Operation: operation, Status: status}
	if header != nil {
		e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
	}

	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
	case trimmed[0] == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			e.Message = plainText(trimmed)
			break
		}
		e.fromObject(obj, trimmed)
	case trimmed[0] == '"':
		var s string
		if err := json.Unmarshal(trimmed, &s); err == nil {
			e.Message = truncateRunes(strings.TrimSpace(s), maxStoredRunes)
		} else {
			e.Message = plainText(trimmed)
		}
	default:
		e.Message = plainText(trimmed)
	}
	return e
}

// fromObject fills e from a JSON object body (shapes 1 to 4).
func (e *Error) fromObject(obj map[string]json.RawMessage, raw []byte) {
	get := func(name string) string {
		v, ok := lookupFold(obj, name)
		if !ok {
			return ""
		}
		return truncateRunes(jsonText(v), maxStoredRunes)
	}
	e.Type = get("type")
	e.Title = get("title")
	e.Detail = get("detail")
	e.Code = get("code")

	msg := get("message")
	errText := ""
	if v, ok := lookupFold(obj, "error"); ok {
		errText = truncateRunes(errorMember(v), maxStoredRunes)
	}
	switch {
	case msg == "":
		e.Message = errText
	case errText == "" || strings.EqualFold(msg, errText):
		e.Message = msg
	default:
		e.Message = msg + ": " + errText
	}

	if v, ok := lookupFold(obj, "errors"); ok {
		e.Fields = parseFieldErrors(v)
	}
	if e.RetryAfter == 0 {
		if v, ok := lookupFold(obj, "retry_after"); ok {
			e.RetryAfter = parseRetryAfter(jsonText(v), time.Now())
		}
	}

	if e.Type == "" && e.Title == "" && e.Detail == "" && e.Message == "" && e.Code == "" && len(e.Fields) == 0 {
		// An object in none of the documented shapes: keep it, compacted, as the message.
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			e.Message = truncateRunes(buf.String(), maxStoredRunes)
		}
	}
}

// lookupFold finds a member by name, exactly first, then case-insensitively.
func lookupFold(obj map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := obj[name]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// jsonText returns a JSON string's value, a scalar's text, "" for null, or compact JSON.
func jsonText(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return strings.TrimSpace(s)
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) == nil {
		return buf.String()
	}
	return string(v)
}

// errorMember reads an "error" member: a string, or an object carrying a message.
func errorMember(v json.RawMessage) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) == nil {
		for _, name := range []string{"message", "detail", "title", "error"} {
			if m, ok := lookupFold(obj, name); ok {
				if s := jsonText(m); s != "" {
					return s
				}
			}
		}
	}
	return jsonText(v)
}

// parseFieldErrors reads a problem's "errors": objects {path, detail, pointer, location},
// plain strings, or (seen elsewhere) an object mapping field names to messages.
func parseFieldErrors(v json.RawMessage) []FieldError {
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		out := make([]FieldError, 0, len(list))
		for _, item := range list {
			var obj map[string]json.RawMessage
			if json.Unmarshal(item, &obj) != nil {
				if s := jsonText(item); s != "" {
					out = append(out, FieldError{Detail: truncateRunes(s, maxStoredRunes)})
				}
				continue
			}
			var fe FieldError
			for _, name := range []string{"path", "pointer", "field", "location"} {
				if m, ok := lookupFold(obj, name); ok {
					if fe.Path = jsonText(m); fe.Path != "" {
						break
					}
				}
			}
			for _, name := range []string{"detail", "message", "title"} {
				if m, ok := lookupFold(obj, name); ok {
					if fe.Detail = jsonText(m); fe.Detail != "" {
						break
					}
				}
			}
			fe.Path = truncateRunes(fe.Path, maxStoredRunes)
			fe.Detail = truncateRunes(fe.Detail, maxStoredRunes)
			if fe.Path != "" || fe.Detail != "" {
				out = append(out, fe)
			}
		}
		return out
	}
	var byField map[string]json.RawMessage
	if json.Unmarshal(v, &byField) == nil {
		out := make([]FieldError, 0, len(byField))
		for path, m := range byField {
			var msgs []string
			if json.Unmarshal(m, &msgs) != nil {
				msgs = []string{jsonText(m)}
			}
			out = append(out, FieldError{
				Path:   truncateRunes(path, maxStoredRunes),
				Detail: truncateRunes(strings.Join(msgs, ", "), maxStoredRunes),
			})
		}
		sortFields(out)
		return out
	}
	return nil
}

// sortFields orders field errors by path so map-shaped bodies render deterministically.
func sortFields(fs []FieldError) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Path < fs[j-1].Path; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// plainText turns a non-JSON body into a message. An HTML page (a proxy's error page) is
// reduced to its <title>: its markup helps nobody.
func plainText(body []byte) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	if strings.HasPrefix(s, "<") {
		lower := strings.ToLower(s)
		if i := strings.Index(lower, "<title>"); i >= 0 {
			rest := s[i+len("<title>"):]
			if j := strings.Index(strings.ToLower(rest), "</title>"); j >= 0 {
				return truncateRunes(strings.TrimSpace(rest[:j]), maxStoredRunes)
			}
		}
		return ""
	}
	return truncateRunes(strings.TrimSpace(s), maxStoredRunes)
}

// parseRetryAfter reads delay-seconds (integer or decimal) or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs != secs { // NaN
			return 0
		}
		const maxSecs = 24 * 3600 // anything longer is nonsense; clamp
		if secs > maxSecs {
			secs = maxSecs
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			if d > 24*time.Hour {
				d = 24 * time.Hour
			}
			return d
		}
	}
	return 0
}

// oneLine collapses whitespace and control characters into single spaces and shortens s to
// max runes.
func oneLine(s string, max int) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return truncateRunes(b.String(), max)
}

// truncateRunes shortens s to at most max runes, marking the cut with "…".
func truncateRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// newClauses returns the clauses of s (": "-separated) that were not said before, in order:
// Exoscale's messages often repeat the title or their own first clause.
func newClauses(said []string, s string) string {
	var keep []string
	for _, c := range strings.Split(s, ": ") {
		c = strings.TrimSpace(c)
		if c == "" || saidBefore(said, c) || saidBefore(keep, c) {
			continue
		}
		keep = append(keep, c)
	}
	return strings.Join(keep, ": ")
}

// saidBefore reports whether s is already part of one of the parts said (case-insensitive).
func saidBefore(said []string, s string) bool {
	ls := strings.ToLower(s)
	for _, x := range said {
		if strings.Contains(strings.ToLower(x), ls) {
			return true
		}
	}
	return false
}

// OperationError is an asynchronous operation that ended in the failure or timeout state.
type OperationError struct {
	Operation *Operation
}

// Error renders "operation <id> failed (<reason>): <message>" (or "timed out" for the timeout
// state) on one line.
func (e *OperationError) Error() string {
	op := e.Operation
	if op == nil {
		return "operation failed"
	}
	var b strings.Builder
	b.WriteString("operation")
	if id := oneLine(op.ID, 64); id != "" {
		b.WriteString(" ")
		b.WriteString(id)
	}
	if op.State == StateTimeout {
		b.WriteString(" timed out")
	} else {
		b.WriteString(" failed")
	}
	if r := oneLine(op.Reason, 64); r != "" {
		b.WriteString(" (")
		b.WriteString(r)
		b.WriteString(")")
	}
	if m := oneLine(op.Message, maxPartRunes); m != "" {
		b.WriteString(": ")
		b.WriteString(m)
	}
	return b.String()
}
