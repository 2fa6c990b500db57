// Package jsonguard refuses JSON-RPC messages that different JSON parsers read differently, and
// bounds how much of one the server buffers, before any of it reaches the MCP library.
//
// Two readings of one message are how a check is bypassed: a tool call with
// "dry-run":true,"dry-run":false looks like a dry run to a reviewer (or a proxy, or a log) that
// keeps the first key, and is sent for real by a Go decoder that keeps the last; an id of
// 9007199254740993 is a different number to a JavaScript client (which rounds it to 2^53) than
// to us. Check refuses both, naming the field, so that nothing ambiguous is ever handled.
//
// The stdio transport reads one message per line; LineFilter bounds a line (MaxMessageBytes),
// so a client that never sends a newline cannot grow the server's memory without limit. The
// HTTP transport gets the same checks from Middleware.
//
// JSON-RPC 2.0: https://www.jsonrpc.org/specification ; MCP stdio framing (one message per
// line): https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#stdio
package jsonguard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMessageBytes bounds one JSON-RPC message (a stdio line or an HTTP body): far above any
// tool call of this server (the largest, a policy, is a few KiB), far below what would strain
// memory when several sessions send at once.
const MaxMessageBytes = 4 << 20

// MaxSafeInteger is the largest integer every JSON parser reads exactly (2^53 - 1, JavaScript's
// Number.MAX_SAFE_INTEGER). Beyond it a float64 parser rounds: 2^53 + 1 reads as 2^53.
const MaxSafeInteger = 1<<53 - 1

// maxDepth bounds nesting; MCP messages nest a dozen levels at most.
const maxDepth = 200

// JSON-RPC error codes used in answers.
const (
	CodeParseError     = -32700 // not JSON, or too long
	CodeInvalidRequest = -32600 // JSON, but ambiguous (a repeated key, an unsafe integer)
)

// Error is a refused message. Path names the field ("params.arguments.dry-run"; empty for the
// message as a whole), Reason says what is wrong and what to send instead.
type Error struct {
	Code   int // CodeParseError or CodeInvalidRequest
	Path   string
	Reason string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Check reports whether msg is one JSON value that every parser reads the same way: no object
// anywhere repeats a key (keys that differ only by letter case count as repeated, since Go's
// decoder matches struct fields ignoring case), no number's magnitude exceeds MaxSafeInteger,
// nesting stays under 200 levels. It returns nil or an *Error.
func Check(msg []byte) error {
	d := json.NewDecoder(bytes.NewReader(msg))
	d.UseNumber()
	c := checker{dec: d}
	if err := c.value("", 0); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return &Error{Code: CodeParseError, Reason: "parse error: more than one JSON value in the message"}
	}
	return nil
}

type checker struct{ dec *json.Decoder }

func (c *checker) value(path string, depth int) error {
	if depth > maxDepth {
		return &Error{Code: CodeInvalidRequest, Path: path, Reason: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	tok, err := c.dec.Token()
	if err != nil {
		return parseError(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return c.object(path, depth)
		case '[':
			for i := 0; c.dec.More(); i++ {
				if err := c.value(path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
					return err
				}
			}
			_, err := c.dec.Token() // ']'
			return parseError(err)
		}
	case json.Number:
		return checkNumber(path, t)
	}
	return nil
}

func (c *checker) object(path string, depth int) error {
	seen := map[string]string{} // folded key → key as given
	for c.dec.More() {
		tok, err := c.dec.Token()
		if err != nil {
			return parseError(err)
		}
		key, _ := tok.(string)
		field := joinPath(path, key)
		folded := fold(key)
		if prev, dup := seen[folded]; dup {
			reason := fmt.Sprintf("the key %s is given twice; parsers disagree on which one counts, so the message is refused: send each key once", quote(key))
			if prev != key {
				reason = fmt.Sprintf("the keys %s and %s differ only by letter case, and a Go decoder takes them for one field; send it once", quote(prev), quote(key))
			}
			return &Error{Code: CodeInvalidRequest, Path: field, Reason: reason}
		}
		seen[folded] = key
		if err := c.value(field, depth+1); err != nil {
			return err
		}
	}
	_, err := c.dec.Token() // '}'
	return parseError(err)
}

// checkNumber refuses a number whose magnitude exceeds MaxSafeInteger. An integer literal is
// compared digit by digit: as a float64, 2^53 + 1 would read as 2^53 and slip through.
func checkNumber(path string, n json.Number) error {
	s := string(n)
	digits := strings.TrimPrefix(s, "-")
	unsafe := false
	if !strings.ContainsAny(digits, ".eE") {
		const maxSafe = "9007199254740991"
		unsafe = len(digits) > len(maxSafe) || (len(digits) == len(maxSafe) && digits > maxSafe)
	} else if f, err := strconv.ParseFloat(s, 64); err != nil || math.Abs(f) > MaxSafeInteger {
		unsafe = true // err: out of float64 range
	}
	if !unsafe {
		return nil
	}
	return &Error{Code: CodeInvalidRequest, Path: path, Reason: fmt.Sprintf("the number %s is beyond ±%d (2^53-1) and would be rounded by some parsers; send a smaller number, or the value as a string", shorten(s), MaxSafeInteger)}
}

// parseError turns a decoder error into an *Error (nil stays nil).
func parseError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Code: CodeParseError, Reason: "parse error: the message ends before its JSON value does"}
	}
	return &Error{Code: CodeParseError, Reason: "parse error: " + err.Error()}
}

// fold maps s to a canonical form under Unicode simple case folding, so that two keys that
// strings.EqualFold (and Go's decoder) take for equal fold to the same string.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s) // the least rune of each ASCII letter's fold orbit, as below
	}
	var b strings.Builder
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// joinPath appends a key to a field path: a plain key after a dot, another quoted in brackets.
func joinPath(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '-' || r == '_' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + quote(key) + "]"
	case path == "":
		return shorten(key)
	}
	return path + "." + shorten(key)
}

// quote shows a key or value in an error, bounded: a message can be megabytes.
func quote(s string) string { return strconv.Quote(shorten(s)) }

func shorten(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}
