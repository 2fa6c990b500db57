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
// HTTP transport gets the same checks from CheckHTTP.
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
//
// It runs on every message, so it is a single pass over the bytes that allocates only for an
// object's keys and builds a field's path only when it refuses it.
func Check(msg []byte) error {
	s := scanner{data: msg}
	s.ws()
	if err := s.value(0); err != nil {
		return err
	}
	s.ws()
	if s.pos < len(s.data) {
		return &Error{Code: CodeParseError, Reason: "parse error: more than one JSON value in the message"}
	}
	return nil
}

// scanner walks one JSON text. path holds the keys and indexes from the top to the value being
// read, for the error that names it.
type scanner struct {
	data []byte
	pos  int
	path []segment
}

// segment is one step of a field's path: an object key, or an array index when isIndex.
type segment struct {
	key     string
	index   int
	isIndex bool
}

func (s *scanner) fieldPath() string {
	path := ""
	for _, seg := range s.path {
		if seg.isIndex {
			path += "[" + strconv.Itoa(seg.index) + "]"
		} else {
			path = joinPath(path, seg.key)
		}
	}
	return path
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) syntax(what string) error {
	if s.pos >= len(s.data) {
		return &Error{Code: CodeParseError, Reason: "parse error: the message ends before its JSON value does"}
	}
	return &Error{Code: CodeParseError, Reason: fmt.Sprintf("parse error: %s at byte %d", what, s.pos)}
}

func (s *scanner) value(depth int) error {
	if depth > maxDepth {
		return &Error{Code: CodeInvalidRequest, Path: s.fieldPath(), Reason: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	if s.pos >= len(s.data) {
		return s.syntax("")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.syntax("invalid character " + strconv.QuoteRune(rune(s.data[s.pos])) + " looking for a value")
}

func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return s.syntax("invalid literal, expected " + word)
	}
	s.pos += len(word)
	return nil
}

func (s *scanner) array(depth int) error {
	s.pos++ // '['
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	s.path = append(s.path, segment{isIndex: true})
	defer func() { s.path = s.path[:len(s.path)-1] }()
	for i := 0; ; i++ {
		s.path[len(s.path)-1].index = i
		s.ws()
		if done, err := s.member(depth, ']', "an array element"); done || err != nil {
			return err
		}
	}
}

// member reads a member's value and what follows it: a comma (done false) or the container's
// closing byte (done true).
func (s *scanner) member(depth int, closing byte, what string) (done bool, err error) {
	if err := s.value(depth + 1); err != nil {
		return false, err
	}
	s.ws()
	switch {
	case s.pos >= len(s.data):
		return false, s.syntax("")
	case s.data[s.pos] == ',':
		s.pos++
		return false, nil
	case s.data[s.pos] == closing:
		s.pos++
		return true, nil
	}
	return false, s.syntax("expected , or " + string(closing) + " after " + what)
}

func (s *scanner) object(depth int) error {
	s.pos++ // '{'
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	s.path = append(s.path, segment{})
	defer func() { s.path = s.path[:len(s.path)-1] }()
	var given []string // the keys so far; objects in a message are small, a scan beats a map
	for {
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.syntax("expected a string key")
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		s.path[len(s.path)-1].key = key
		for _, prev := range given {
			if !sameFold(prev, key) {
				continue
			}
			reason := fmt.Sprintf("the key %s is given twice; parsers disagree on which one counts, so the message is refused: send each key once", quote(key))
			if prev != key {
				reason = fmt.Sprintf("the keys %s and %s differ only by letter case, and a Go decoder takes them for one field; send it once", quote(prev), quote(key))
			}
			return &Error{Code: CodeInvalidRequest, Path: s.fieldPath(), Reason: reason}
		}
		given = append(given, key)
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.syntax("expected : after an object key")
		}
		s.pos++
		s.ws()
		if done, err := s.member(depth, '}', "an object value"); done || err != nil {
			return err
		}
	}
}

// str reads a string and returns it decoded as encoding/json decodes it, so that keys compare
// as Go reads them.
func (s *scanner) str() (string, error) {
	start := s.pos
	s.pos++ // '"'
	escaped := false
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			raw := s.data[start:s.pos]
			if !escaped && utf8.Valid(raw) {
				return string(raw[1 : len(raw)-1]), nil
			}
			// Escapes, or bytes that are not UTF-8 (Go reads each as U+FFFD, so two such keys
			// can be one field): decoded as Go decodes them.
			var out string
			if err := json.Unmarshal(raw, &out); err != nil {
				return "", &Error{Code: CodeParseError, Reason: "parse error: " + err.Error()}
			}
			return out, nil
		case c == '\\':
			escaped = true
			if s.pos+1 >= len(s.data) {
				s.pos = len(s.data)
				return "", s.syntax("")
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) || !isHex4(s.data[s.pos+2:s.pos+6]) {
					return "", s.syntax("invalid \\u escape in a string")
				}
				s.pos += 6
			default:
				return "", s.syntax("invalid escape in a string")
			}
		case c < 0x20:
			return "", s.syntax("control character in a string")
		default:
			s.pos++
		}
	}
	return "", s.syntax("")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// number reads a number as JSON's grammar gives it, then checks its magnitude.
func (s *scanner) number() error {
	start := s.pos
	digits := func() int {
		n := 0
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	if s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case digits() == 0:
		return s.syntax("invalid number")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return s.syntax("invalid number: no digit after the decimal point")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return s.syntax("invalid number: no digit in the exponent")
		}
	}
	if err := checkNumber("", json.Number(s.data[start:s.pos])); err != nil {
		err.(*Error).Path = s.fieldPath()
		return err
	}
	return nil
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

// sameFold reports whether fold(a) == fold(b), without allocating for ASCII keys (nearly all).
func sameFold(a, b string) bool {
	if len(a) != len(b) {
		// ASCII letters fold to ASCII letters; only a non-ASCII key can fold to another length.
		if isASCII(a) && isASCII(b) {
			return false
		}
		return fold(a) == fold(b)
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca >= utf8.RuneSelf || cb >= utf8.RuneSelf {
			return fold(a) == fold(b)
		}
		if ca != cb && upper(ca) != upper(cb) {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
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
