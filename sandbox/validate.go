package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// aiKeyNamePattern is the pattern of AI API key names in Exoscale's OpenAPI document.
const aiKeyNamePattern = `^[A-Za-z0-9](?:[A-Za-z0-9 _'()-]*[A-Za-z0-9])?$`

var aiKeyNameRE = regexp.MustCompile(aiKeyNamePattern)

// decodeObject parses a request body that must be one JSON object. Numbers stay json.Number so
// integer fields can be told from fractional ones.
func decodeObject(body []byte) (map[string]any, *response) {
	if len(bytes.TrimSpace(body)) == 0 {
		r := invalidBody([]fieldError{{Detail: "request body is required (a JSON object)", Location: "body"}})
		return nil, &r
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		// One value only: trailing data is as malformed as a syntax error.
		if _, terr := dec.Token(); terr == nil {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err != nil {
		// The decoder's message may quote a character of the input, never more; still, say
		// where rather than what, so a body holding a secret is never echoed.
		detail := "request body is not valid JSON"
		var se *json.SyntaxError
		if errors.As(err, &se) {
			detail += " (at byte " + strconv.FormatInt(se.Offset, 10) + ")"
		}
		r := invalidBody([]fieldError{{Detail: detail, Location: "body"}})
		return nil, &r
	}
	obj, ok := v.(map[string]any)
	if !ok {
		r := invalidBody([]fieldError{{Detail: "expected a JSON object, got " + jsonType(v), Location: "body"}})
		return nil, &r
	}
	return obj, nil
}

// loc is a position in the request body, kept both as a dotted path and a JSON pointer.
type loc struct{ path, pointer string }

func (l loc) field(name string) loc {
	p := name
	if l.path != "" {
		p = l.path + "." + name
	}
	esc := strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
	return loc{path: p, pointer: l.pointer + "/" + esc}
}

func (l loc) index(i int) loc {
	return loc{path: l.path + "[" + strconv.Itoa(i) + "]", pointer: l.pointer + "/" + strconv.Itoa(i)}
}

var root = loc{}

// checker collects every field error of a body instead of stopping at the first, so a caller
// fixes them all in one round.
type checker struct{ errs []fieldError }

func (c *checker) fail(l loc, detail string) {
	c.errs = append(c.errs, fieldError{Path: l.path, Detail: detail, Pointer: l.pointer, Location: "body"})
}

func (c *checker) ok() bool { return len(c.errs) == 0 }

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "a value JSON cannot hold" // only JSON-decoded values reach here; never a Go type name
}

// object checks v is an object whose fields are all in allowed; hints maps a field that is
// not allowed to a better explanation than "unknown field".
func (c *checker) object(l loc, v any, allowed []string, hints map[string]string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(l, "expected object, got "+jsonType(v))
		return nil, false
	}
	for _, k := range sortedKeys(m) {
		known := false
		for _, a := range allowed {
			if a == k {
				known = true
				break
			}
		}
		if !known {
			if h, ok := hints[k]; ok {
				c.fail(l.field(k), h)
			} else {
				c.fail(l.field(k), "unknown field; allowed: "+strings.Join(allowed, ", "))
			}
		}
	}
	return m, true
}

func (c *checker) required(l loc, m map[string]any, names ...string) {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			c.fail(l.field(n), "is required")
		}
	}
}

// str checks a string of min..max characters (Unicode code points, as JSON Schema counts).
func (c *checker) str(l loc, v any, minLen, maxLen int) (string, bool) {
	s, ok := v.(string)
	if !ok {
		c.fail(l, "expected string, got "+jsonType(v))
		return "", false
	}
	n := utf8.RuneCountInString(s)
	if n < minLen || maxLen > 0 && n > maxLen {
		if maxLen > 0 {
			c.fail(l, fmt.Sprintf("expected string of %d to %d characters, got %d", minLen, maxLen, n))
		} else {
			c.fail(l, fmt.Sprintf("expected string of at least %d characters, got %d", minLen, n))
		}
		return "", false
	}
	return s, true
}

func (c *checker) enum(l loc, v any, allowed ...string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		c.fail(l, "expected string, got "+jsonType(v))
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	c.fail(l, "expected one of: "+strings.Join(allowed, ", "))
	return "", false
}

// isUUID accepts the canonical 8-4-4-4-12 hex form only (uuid.Parse would also take braces,
// "urn:uuid:" and unhyphenated forms, which the API does not).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func (c *checker) uuid(l loc, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		c.fail(l, "expected string, got "+jsonType(v))
		return "", false
	}
	if !isUUID(s) {
		c.fail(l, "expected a uuid (8-4-4-4-12 hexadecimal digits)")
		return "", false
	}
	return strings.ToLower(s), true
}

func (c *checker) boolean(l loc, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		c.fail(l, "expected boolean, got "+jsonType(v))
	}
	return b, ok
}

// positiveInt checks an integer > 0 (max-session-ttl: exclusiveMinimum 0, int64).
func (c *checker) positiveInt(l loc, v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		c.fail(l, "expected integer, got "+jsonType(v))
		return 0, false
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		c.fail(l, "expected an integer (64-bit)")
		return 0, false
	}
	if i <= 0 {
		c.fail(l, "expected integer greater than 0")
		return 0, false
	}
	return i, true
}

func (c *checker) stringMap(l loc, v any) (map[string]string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		c.fail(l, "expected object of strings, got "+jsonType(v))
		return nil, false
	}
	out := make(map[string]string, len(m))
	good := true
	for _, k := range sortedKeys(m) {
		s, ok := m[k].(string)
		if !ok {
			c.fail(l.field(k), "expected string, got "+jsonType(m[k]))
			good = false
			continue
		}
		out[k] = s
	}
	return out, good
}

func (c *checker) stringList(l loc, v any) ([]string, bool) {
	a, ok := v.([]any)
	if !ok {
		c.fail(l, "expected array of strings, got "+jsonType(v))
		return nil, false
	}
	out := make([]string, 0, len(a))
	good := true
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			c.fail(l.index(i), "expected string, got "+jsonType(e))
			good = false
			continue
		}
		out = append(out, s)
	}
	return out, good
}

var permissionValues = []string{"bypass-governance-retention", "reset-iam-organization-policy"}

func (c *checker) permissions(l loc, v any) ([]string, bool) {
	a, ok := v.([]any)
	if !ok {
		c.fail(l, "expected array, got "+jsonType(v))
		return nil, false
	}
	out := make([]string, 0, len(a))
	seen := map[string]bool{}
	good := true
	for i, e := range a {
		s, ok := c.enum(l.index(i), e, permissionValues...)
		if !ok {
			good = false
			continue
		}
		if seen[s] {
			c.fail(l.index(i), "duplicate permission (items must be unique)")
			good = false
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, good
}

// rule checks one iam-service-policy-rule.
func (c *checker) rule(l loc, v any) (policyRule, bool) {
	m, ok := c.object(l, v, []string{"action", "expression", "resources"}, nil)
	if !ok {
		return policyRule{}, false
	}
	before := len(c.errs)
	c.required(l, m, "action", "expression")
	var r policyRule
	if v, ok := m["action"]; ok {
		r.Action, _ = c.enum(l.field("action"), v, "allow", "deny")
	}
	if v, ok := m["expression"]; ok {
		r.Expression, _ = c.str(l.field("expression"), v, 1, 0)
	}
	if v, ok := m["resources"]; ok {
		r.Resources, _ = c.stringList(l.field("resources"), v)
	}
	return r, len(c.errs) == before
}

func (c *checker) rules(l loc, v any) []policyRule {
	a, ok := v.([]any)
	if !ok {
		c.fail(l, "expected array of rules, got "+jsonType(v))
		return nil
	}
	out := make([]policyRule, 0, len(a))
	for i, e := range a {
		if r, ok := c.rule(l.index(i), e); ok {
			out = append(out, r)
		}
	}
	return out
}

// policy checks an iam-policy document.
func (c *checker) policy(l loc, v any) *policy {
	m, ok := c.object(l, v, []string{"default-service-strategy", "services"}, nil)
	if !ok {
		return nil
	}
	c.required(l, m, "default-service-strategy", "services")
	p := &policy{Services: map[string]servicePolicy{}}
	if v, ok := m["default-service-strategy"]; ok {
		p.DefaultServiceStrategy, _ = c.enum(l.field("default-service-strategy"), v, "allow", "deny")
	}
	if v, ok := m["services"]; ok {
		sl := l.field("services")
		services, ok := v.(map[string]any)
		if !ok {
			c.fail(sl, "expected object mapping service names to service policies, got "+jsonType(v))
		}
		for _, name := range sortedKeys(services) {
			el := sl.field(name)
			if name == "" {
				c.fail(el, "service name must not be empty")
				continue
			}
			sm, ok := c.object(el, services[name], []string{"type", "rules"}, nil)
			if !ok {
				continue
			}
			c.required(el, sm, "type")
			var sp servicePolicy
			if v, ok := sm["type"]; ok {
				sp.Type, _ = c.enum(el.field("type"), v, "allow", "deny", "rules")
			}
			if v, ok := sm["rules"]; ok {
				sp.Rules = c.rules(el.field("rules"), v)
			}
			p.Services[name] = sp
		}
	}
	return p
}

func (c *checker) assumeRolePolicy(l loc, v any) *assumeRolePolicy {
	m, ok := c.object(l, v, []string{"rules"}, nil)
	if !ok {
		return nil
	}
	arp := &assumeRolePolicy{Rules: []policyRule{}}
	if v, ok := m["rules"]; ok {
		arp.Rules = c.rules(l.field("rules"), v)
	}
	return arp
}
