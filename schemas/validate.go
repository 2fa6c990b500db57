package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// ValidationError reports arguments that do not fit a tool's input schema. Its Error() is meant
// for the model: a first line naming the tool, then one violation per line.
type ValidationError struct {
	Tool       string
	Violations []Violation
}

// Violation is one problem with the arguments: Field is the argument's path ("name",
// "services.compute.rules[0].action"; empty for the arguments as a whole), Message says what
// was expected and what was given ("expected a string of at most 50 characters, got 63
// characters").
type Violation struct {
	Field, Message string
}

// String renders the violation as one line of the error: "field: message".
func (v Violation) String() string {
	if v.Field == "" {
		return v.Message
	}
	return v.Field + ": " + v.Message
}

// Error renders "invalid arguments for <tool>:" followed by one violation per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid arguments for ")
	b.WriteString(e.Tool)
	b.WriteString(":")
	for _, v := range e.Violations {
		b.WriteString("\n")
		b.WriteString(v.String())
	}
	return b.String()
}

// Validate validates args (decoded JSON object) against op's input schema, or its
// ValidationSchema when it has one (validators compiled lazily on first use, cached,
// concurrency-safe) plus our own checks (the catalog's AtLeastOne: update-ai-api-key needs name
// or scope). Returns nil or a *ValidationError whose Error() is model-readable, one
// violation per line: "name: expected a string of at most 50 characters, got 63 characters";
// unknown properties named with the allowed ones listed. Any other error means the schema
// itself is broken (a bug, not the caller's fault): it is not JSON, or it uses a keyword this
// validator does not implement (see supportedKeywords), which is never silently ignored.
//
// An op that is not a catalog entry (or whose schema differs from the catalog's), such as a
// composite tool's, is validated against its own schema, compiled on first use and kept in a
// small cache keyed by name and schema.
//
// The validator is our own walker over the JSON Schema 2020-12 subset our schemas use: it
// reports every violation (a general validator stops at the first, or words them for
// developers), and costs nothing at start-up. Tests hold it to google/jsonschema-go, the
// reference implementation, on every schema we ship.
func Validate(op Operation, args map[string]any) error {
	return defaultValidators().validate(op, args)
}

// Limits that keep an error message readable and bounded whatever the model sent.
const (
	maxShown         = 40 // runes of a value or key echoed back
	maxViolations    = 20
	maxAllowedListed = 30
	maxAdHocCached   = 64 // schemas outside the catalog kept compiled (composite tools)
)

// compileTotal counts schema compilations in the process: start-up must not compile any.
var compileTotal atomic.Int64

// validatorSet holds one lazily compiled validator per catalog operation.
type validatorSet struct {
	byName   map[string]*lazyValidator // fixed at construction, read-only afterwards
	compiles atomic.Int64

	mu    sync.Mutex
	adHoc map[string]*compiledSchema // name + "\x00" + schema → compiled, bounded
}

type lazyValidator struct {
	once   sync.Once
	name   string
	schema json.RawMessage
	v      *compiledSchema
	err    error
}

// compiledSchema is a schema ready to validate with.
type compiledSchema struct {
	schema *rule
}

var defaultValidators = sync.OnceValue(func() *validatorSet {
	return newValidatorSet(loadCatalog().ops)
})

func newValidatorSet(ops []Operation) *validatorSet {
	s := &validatorSet{byName: make(map[string]*lazyValidator, len(ops)), adHoc: map[string]*compiledSchema{}}
	for _, op := range ops {
		s.byName[op.Name] = &lazyValidator{name: op.Name, schema: op.validationSchema()}
	}
	return s
}

func (s *validatorSet) compiled(op Operation) (*compiledSchema, error) {
	raw := op.validationSchema()
	lv, ok := s.byName[op.Name]
	if ok && bytes.Equal(lv.schema, raw) {
		lv.once.Do(func() {
			s.compiles.Add(1)
			lv.v, lv.err = compileSchema(lv.name, lv.schema)
		})
		return lv.v, lv.err
	}
	key := op.Name + "\x00" + string(raw)
	s.mu.Lock()
	cs := s.adHoc[key]
	s.mu.Unlock()
	if cs != nil {
		return cs, nil
	}
	s.compiles.Add(1)
	cs, err := compileSchema(op.Name, raw)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.adHoc) < maxAdHocCached {
		s.adHoc[key] = cs
	}
	s.mu.Unlock()
	return cs, nil
}

// validationSchema is the schema Validate applies: ValidationSchema when set, else InputSchema.
func (o Operation) validationSchema() json.RawMessage {
	if len(o.ValidationSchema) > 0 {
		return o.ValidationSchema
	}
	return o.InputSchema
}

func compileSchema(name string, raw json.RawMessage) (*compiledSchema, error) {
	compileTotal.Add(1)
	doc, err := decodeOrdered(raw)
	if err != nil {
		return nil, fmt.Errorf("schemas: %s input schema: %w", name, err)
	}
	r, err := compileRule(doc, "")
	if err != nil {
		return nil, fmt.Errorf("schemas: %s input schema: %w", name, err)
	}
	return &compiledSchema{schema: r}, nil
}

func (s *validatorSet) validate(op Operation, args map[string]any) error {
	cs, err := s.compiled(op)
	if err != nil {
		return err
	}
	// The walker understands JSON values (what an MCP library decodes: maps, slices, strings,
	// float64, bool, nil; json.Number too). Anything else came from Go code (int, NaN,
	// map[string]string, invalid UTF-8): round-trip it through JSON first, as the model's
	// arguments would have been.
	inst := any(map[string]any{})
	if args != nil {
		inst = args
		if !isJSONValue(args) {
			raw, err := json.Marshal(args)
			if err != nil {
				return &ValidationError{Tool: op.Name, Violations: []Violation{{
					Message: "expected JSON values only, got a value JSON cannot represent",
				}}}
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&inst); err != nil {
				return fmt.Errorf("schemas: %s: re-decoding arguments: %w", op.Name, err)
			}
		}
	}

	w := walker{root: inst}
	w.check(cs.schema, inst)
	vs := w.out
	// op.AtLeastOne: a rule a flat schema cannot state without a top-level anyOf, which tool
	// schemas must not have.
	if names := op.AtLeastOne; len(names) > 0 && !hasAny(inst, names) {
		vs = append(vs, Violation{
			Field:   strings.Join(names, ", "),
			Message: "at least one required, none given",
		})
	}
	if len(vs) == 0 {
		return nil
	}
	return &ValidationError{Tool: op.Name, Violations: tidy(vs)}
}

// tidy orders violations by field, drops repeats and noise, and caps their number.
func tidy(vs []Violation) []Violation {
	vs = dropNoiseAfterEmpty(vs)
	slices.SortFunc(vs, func(a, b Violation) int {
		if c := strings.Compare(a.Field, b.Field); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	vs = slices.Compact(vs)
	if len(vs) > maxViolations {
		more := len(vs) - maxViolations
		vs = append(vs[:maxViolations:maxViolations], Violation{Message: fmt.Sprintf("and %d more violations", more)})
	}
	return vs
}

// dropNoiseAfterEmpty keeps only "non-empty" for a field that was sent empty: that the empty
// string also fails the field's pattern tells the model nothing more.
func dropNoiseAfterEmpty(vs []Violation) []Violation {
	empty := map[string]bool{}
	for _, v := range vs {
		if v.Message == msgEmpty {
			empty[v.Field] = true
		}
	}
	if len(empty) == 0 {
		return vs
	}
	return slices.DeleteFunc(vs, func(v Violation) bool {
		return empty[v.Field] && v.Message != msgEmpty
	})
}

const msgEmpty = "expected a non-empty string, got an empty string"

func hasAny(inst any, names []string) bool {
	m, _ := inst.(map[string]any)
	for _, n := range names {
		if _, ok := m[n]; ok {
			return true
		}
	}
	return false
}

// isJSONValue reports whether v is made only of what encoding/json decodes into an any
// (finite float64 or valid json.Number, valid UTF-8, non-nil maps and slices): such a value
// is validated as it is, without a round trip through JSON.
func isJSONValue(v any) bool {
	switch v := v.(type) {
	case nil, bool:
		return true
	case string:
		return utf8.ValidString(v)
	case float64:
		return !math.IsNaN(v) && !math.IsInf(v, 0)
	case json.Number:
		return isJSONNumber(string(v))
	case map[string]any:
		if v == nil {
			return false
		}
		for k, x := range v {
			if !utf8.ValidString(k) || !isJSONValue(x) {
				return false
			}
		}
		return true
	case []any:
		if v == nil {
			return false
		}
		for _, x := range v {
			if !isJSONValue(x) {
				return false
			}
		}
		return true
	}
	return false
}

// isJSONNumber reports whether s is a number as JSON writes it (RFC 8259, section 6).
func isJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
	}
	digits := func() int {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		return n
	}
	switch n := digits(); {
	case n == 0:
		return false
	case s[0] == '0' && n > 1:
		return false
	default:
		s = s[n:]
	}
	if s != "" && s[0] == '.' {
		s = s[1:]
		n := digits()
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s != "" && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		n := digits()
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return s == ""
}

// The schema compiler. A schema is compiled into a tree of rules; every keyword it holds must
// be one the walker implements, or compiling fails: a keyword silently ignored would accept
// arguments the schema's author meant to refuse.

// supportedKeywords are the JSON Schema 2020-12 keywords the walker implements. Annotations
// (description, title, ...) change no result.
var supportedKeywords = []string{
	"type", "enum",
	"properties", "required", "additionalProperties",
	"items", "minItems", "maxItems", "uniqueItems",
	"minLength", "maxLength", "pattern",
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
	"description", "title", "$comment", "default", "examples",
}

// JSON types as a bit set.
const (
	tNull uint8 = 1 << iota
	tBoolean
	tObject
	tArray
	tNumber
	tInteger
	tString
)

var typeBits = map[string]uint8{
	"null": tNull, "boolean": tBoolean, "object": tObject, "array": tArray,
	"number": tNumber, "integer": tInteger, "string": tString,
}

// rule is one compiled schema.
type rule struct {
	never       bool // the schema false
	description string
	typ         string   // the "type" keyword when it is a single type, for wording
	types       []string // the "type" keyword as listed
	typeMask    uint8

	enum []any // strings, json.Numbers, bools, nil, []any, map[string]any

	properties map[string]*rule
	order      []string // property names in schema order, for "allowed: ..."
	required   []string
	closed     bool  // additionalProperties: false
	additional *rule // additionalProperties as a schema

	items              *rule
	minItems, maxItems int // -1: no bound
	uniqueItems        bool

	minLength, maxLength int // -1: no bound
	pattern              *regexp.Regexp

	minimum, maximum, exclusiveMinimum, exclusiveMaximum *bound
}

// bound is a numeric limit, exact (as the schema wrote it) and as a float64 for the fast
// comparison of float64 arguments when the float64 is exact.
type bound struct {
	rat   *big.Rat
	f     float64
	exact bool
}

// Validate reports whether v (a value as encoding/json decodes it) fits the schema: nil, or an
// error listing the violations.
func (r *rule) Validate(v any) error {
	w := walker{root: v}
	w.check(r, v)
	if len(w.out) == 0 {
		return nil
	}
	return &ValidationError{Tool: "value", Violations: tidy(w.out)}
}

// ordered is a JSON object with its keys in source order.
type ordered struct {
	keys []string
	vals map[string]any
}

// decodeOrdered decodes one JSON value, objects as *ordered, numbers as json.Number.
func decodeOrdered(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var value func() (any, error)
	value = func() (any, error) {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch tok {
		case json.Delim('{'):
			o := &ordered{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := value()
				if err != nil {
					return nil, err
				}
				if _, dup := o.vals[k]; dup {
					return nil, fmt.Errorf("key %q twice in one object", k)
				}
				o.keys = append(o.keys, k)
				o.vals[k] = v
			}
			_, err := dec.Token()
			return o, err
		case json.Delim('['):
			a := []any{}
			for dec.More() {
				v, err := value()
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token()
			return a, err
		}
		return tok, nil
	}
	v, err := value()
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the schema")
	}
	return v, nil
}

// plainValue turns a decoded schema value into what encoding/json (with UseNumber) decodes:
// enum members are compared with arguments.
func plainValue(v any) any {
	switch v := v.(type) {
	case *ordered:
		m := make(map[string]any, len(v.keys))
		for _, k := range v.keys {
			m[k] = plainValue(v.vals[k])
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = plainValue(x)
		}
		return a
	}
	return v
}

func compileRule(v any, ptr string) (*rule, error) {
	r := &rule{minItems: -1, maxItems: -1, minLength: -1, maxLength: -1}
	if b, ok := v.(bool); ok {
		r.never = !b
		return r, nil
	}
	o, ok := v.(*ordered)
	if !ok {
		return nil, fmt.Errorf("%s: a schema must be an object or a boolean, got %s", where(ptr), jsonKind(plainValue(v)))
	}
	for _, k := range o.keys {
		val, at := o.vals[k], ptr+"/"+escapePointer(k)
		var err error
		switch k {
		case "description", "title", "$comment", "default", "examples":
			if k == "description" {
				r.description, _ = val.(string)
			}
		case "type":
			err = r.compileType(val, at)
		case "enum":
			a, ok := val.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: enum must be an array", at)
			}
			r.enum = plainValue(a).([]any)
		case "properties":
			p, ok := val.(*ordered)
			if !ok {
				return nil, fmt.Errorf("%s: properties must be an object", at)
			}
			r.properties = make(map[string]*rule, len(p.keys))
			r.order = p.keys
			for _, name := range p.keys {
				if r.properties[name], err = compileRule(p.vals[name], at+"/"+escapePointer(name)); err != nil {
					return nil, err
				}
			}
		case "required":
			a, ok := val.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: required must be an array of strings", at)
			}
			for _, x := range a {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("%s: required must be an array of strings", at)
				}
				r.required = append(r.required, s)
			}
		case "additionalProperties":
			if b, ok := val.(bool); ok {
				r.closed = !b
			} else {
				r.additional, err = compileRule(val, at)
			}
		case "items":
			r.items, err = compileRule(val, at)
		case "minItems":
			r.minItems, err = count(val, at)
		case "maxItems":
			r.maxItems, err = count(val, at)
		case "minLength":
			r.minLength, err = count(val, at)
		case "maxLength":
			r.maxLength, err = count(val, at)
		case "uniqueItems":
			b, ok := val.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: uniqueItems must be a boolean", at)
			}
			r.uniqueItems = b
		case "pattern":
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("%s: pattern must be a string", at)
			}
			if r.pattern, err = regexp.Compile(s); err != nil {
				return nil, fmt.Errorf("%s: %w", at, err)
			}
		case "minimum":
			r.minimum, err = limit(val, at)
		case "maximum":
			r.maximum, err = limit(val, at)
		case "exclusiveMinimum":
			r.exclusiveMinimum, err = limit(val, at)
		case "exclusiveMaximum":
			r.exclusiveMaximum, err = limit(val, at)
		case "format":
			return nil, fmt.Errorf("%s: keyword format is not implemented by this validator (formats are not asserted in JSON Schema 2020-12): state the format as a pattern", at)
		default:
			return nil, fmt.Errorf("%s: keyword %s is not implemented by this validator; implement it in schemas/validate.go or keep to: %s", at, k, strings.Join(supportedKeywords, ", "))
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func where(ptr string) string {
	if ptr == "" {
		return "the root"
	}
	return ptr
}

func (r *rule) compileType(v any, at string) error {
	switch v := v.(type) {
	case string:
		r.types = []string{v}
		r.typ = v
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("%s: type must be a string or an array of strings", at)
			}
			r.types = append(r.types, s)
		}
	default:
		return fmt.Errorf("%s: type must be a string or an array of strings", at)
	}
	for _, t := range r.types {
		bit, ok := typeBits[t]
		if !ok {
			return fmt.Errorf("%s: unknown type %q", at, t)
		}
		r.typeMask |= bit
	}
	return nil
}

func count(v any, at string) (int, error) {
	n, ok := v.(json.Number)
	if ok {
		if i, err := strconv.Atoi(string(n)); err == nil && i >= 0 {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: must be a non-negative integer", at)
}

func limit(v any, at string) (*bound, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("%s: must be a number", at)
	}
	rat, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return nil, fmt.Errorf("%s: must be a number", at)
	}
	f, exact := rat.Float64()
	return &bound{rat: rat, f: f, exact: exact}, nil
}

// The walker. It follows the validation order of JSON Schema 2020-12 and of the validator it
// replaced: a value of the wrong type, or outside its enum, gets that one violation and no
// other; otherwise every keyword that fails adds its own, and properties and items are all
// visited, so that one reply tells the model everything to fix.

// segment is one step of the path to the value being checked: an object key, or an array
// position when index >= 0.
type segment struct {
	key   string
	index int
}

type walker struct {
	root any
	path []segment
	out  []Violation
}

func (w *walker) field() string {
	loc := make([]string, len(w.path))
	for i, s := range w.path {
		if s.index >= 0 {
			loc[i] = strconv.Itoa(s.index)
		} else {
			loc[i] = s.key
		}
	}
	return fieldPath(w.root, loc)
}

func (w *walker) add(msg string) {
	w.out = append(w.out, Violation{Field: w.field(), Message: msg})
}

func (w *walker) check(r *rule, v any) {
	if r.never {
		w.add("expected nothing here, got " + show(v))
		return
	}
	if r.typeMask != 0 && r.typeMask&typeOf(v) == 0 {
		w.add("expected " + typeWords(r.types) + ", got " + show(v))
		return
	}
	if r.enum != nil && !slices.ContainsFunc(r.enum, func(e any) bool { return equal(e, v) }) {
		w.add("expected " + oneOf(r.enum) + ", got " + show(v))
		return
	}
	switch v := v.(type) {
	case map[string]any:
		w.object(r, v)
	case []any:
		w.array(r, v)
	case string:
		w.str(r, v)
	case float64, json.Number:
		w.number(r, v)
	}
}

// typeOf is the set of JSON types v belongs to: an integral number is both a number and an
// integer.
func typeOf(v any) uint8 {
	switch v := v.(type) {
	case nil:
		return tNull
	case bool:
		return tBoolean
	case map[string]any:
		return tObject
	case []any:
		return tArray
	case string:
		return tString
	case float64:
		if v == math.Trunc(v) {
			return tNumber | tInteger
		}
		return tNumber
	case json.Number:
		if rat, ok := new(big.Rat).SetString(string(v)); ok && rat.IsInt() {
			return tNumber | tInteger
		}
		return tNumber
	}
	return 0
}

func (w *walker) object(r *rule, obj map[string]any) {
	for _, name := range r.required {
		if _, ok := obj[name]; !ok {
			var hint string
			if p := r.properties[name]; p != nil {
				hint = seeHint(p.description)
			}
			w.out = append(w.out, Violation{Field: joinField(w.field(), showKey(name)), Message: "required, missing" + hint})
		}
	}
	var unknown string
	for name, val := range obj {
		sub := r.properties[name]
		if sub == nil {
			if r.closed {
				if unknown == "" {
					unknown = r.unknownMessage(len(w.path) == 0)
				}
				w.out = append(w.out, Violation{Field: joinField(w.field(), showKey(name)), Message: unknown})
				continue
			}
			if sub = r.additional; sub == nil {
				continue
			}
		}
		w.path = append(w.path, segment{key: name, index: -1})
		w.check(sub, val)
		w.path = w.path[:len(w.path)-1]
	}
}

// unknownMessage words a property the schema does not allow, listing the allowed ones.
func (r *rule) unknownMessage(top bool) string {
	what := "unknown property"
	if top {
		what = "unknown argument"
	}
	switch allowed := r.order; {
	case len(allowed) == 0 && top:
		return what + "; this tool takes no arguments"
	case len(allowed) == 0:
		return what + "; no properties allowed here"
	case len(allowed) > maxAllowedListed:
		return what + "; allowed: " + strings.Join(allowed[:maxAllowedListed], ", ") + ", ..."
	default:
		return what + "; allowed: " + strings.Join(allowed, ", ")
	}
}

func (w *walker) array(r *rule, arr []any) {
	if r.minItems >= 0 && len(arr) < r.minItems {
		w.add(fmt.Sprintf("expected at least %s, got %d", plural(r.minItems, "item"), len(arr)))
	}
	if r.maxItems >= 0 && len(arr) > r.maxItems {
		w.add(fmt.Sprintf("expected at most %s, got %d", plural(r.maxItems, "item"), len(arr)))
	}
	if r.uniqueItems {
		if i, j := duplicates(arr); j >= 0 {
			w.add(fmt.Sprintf("expected unique items, got the same value at [%d] and [%d]", i, j))
		}
	}
	if r.items != nil {
		for i, item := range arr {
			w.path = append(w.path, segment{index: i})
			w.check(r.items, item)
			w.path = w.path[:len(w.path)-1]
		}
	}
}

// duplicates finds the first item equal to an earlier one: that earlier one's position and
// its own, or -1, -1.
func duplicates(arr []any) (int, int) {
	if len(arr) <= 20 {
		for j := 1; j < len(arr); j++ {
			for i := range j {
				if equal(arr[i], arr[j]) {
					return i, j
				}
			}
		}
		return -1, -1
	}
	seen := make(map[string]int, len(arr))
	var b strings.Builder
	for j, item := range arr {
		b.Reset()
		canonical(&b, item)
		if i, ok := seen[b.String()]; ok {
			return i, j
		}
		seen[b.String()] = j
	}
	return -1, -1
}

// canonical writes a key that is the same for two values exactly when equal says so.
func canonical(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("n")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		b.WriteString(strconv.Quote(v))
	case float64, json.Number:
		if rat, ok := numRat(v); ok {
			b.WriteString("#" + rat.RatString())
		} else {
			b.WriteString("#?" + fmt.Sprint(v))
		}
	case []any:
		b.WriteString("[")
		for _, x := range v {
			canonical(b, x)
			b.WriteString(",")
		}
		b.WriteString("]")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("{")
		for _, k := range keys {
			b.WriteString(strconv.Quote(k) + ":")
			canonical(b, v[k])
			b.WriteString(",")
		}
		b.WriteString("}")
	}
}

// equal is JSON equality: numbers by value (1 equals 1.0), objects whatever their key order.
func equal(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case string:
		b, ok := b.(string)
		return ok && a == b
	case float64, json.Number:
		if fa, ok := a.(float64); ok {
			if fb, ok := b.(float64); ok {
				return fa == fb
			}
		}
		ra, okA := numRat(a)
		rb, okB := numRat(b)
		return okA && okB && ra.Cmp(rb) == 0
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, equal)
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, x := range a {
			y, ok := b[k]
			if !ok || !equal(x, y) {
				return false
			}
		}
		return true
	}
	return false
}

// numRat is a number's exact value: a float64 as its shortest decimal (what JSON carries), a
// json.Number as written. False for a value big.Rat refuses (an exponent over a million).
func numRat(v any) (*big.Rat, bool) {
	switch v := v.(type) {
	case float64:
		return new(big.Rat).SetString(strconv.FormatFloat(v, 'g', -1, 64))
	case json.Number:
		return new(big.Rat).SetString(string(v))
	}
	return nil, false
}

func (w *walker) str(r *rule, s string) {
	if r.minLength >= 0 || r.maxLength >= 0 {
		n := utf8.RuneCountInString(s)
		if r.minLength >= 0 && n < r.minLength {
			if r.minLength == 1 {
				w.add(msgEmpty)
			} else {
				w.add(fmt.Sprintf("expected a string of at least %s, got %s", plural(r.minLength, "character"), plural(n, "character")))
			}
		}
		if r.maxLength >= 0 && n > r.maxLength {
			w.add(fmt.Sprintf("expected a string of at most %s, got %s", plural(r.maxLength, "character"), plural(n, "character")))
		}
	}
	if r.pattern != nil && !r.pattern.MatchString(s) {
		words, ok := patternWords[r.pattern.String()]
		if !ok {
			words = "a string matching " + r.pattern.String()
		}
		w.add("expected " + words + seeHint(r.description) + ", got " + show(s))
	}
}

func (w *walker) number(r *rule, v any) {
	if r.minimum != nil && compare(v, r.minimum) < 0 {
		w.add("expected " + r.number() + " of at least " + r.minimum.rat.RatString() + ", got " + show(v))
	}
	if r.maximum != nil && compare(v, r.maximum) > 0 {
		w.add("expected " + r.number() + " of at most " + r.maximum.rat.RatString() + ", got " + show(v))
	}
	if r.exclusiveMinimum != nil && compare(v, r.exclusiveMinimum) <= 0 {
		w.add("expected " + r.number() + " greater than " + r.exclusiveMinimum.rat.RatString() + ", got " + show(v))
	}
	if r.exclusiveMaximum != nil && compare(v, r.exclusiveMaximum) >= 0 {
		w.add("expected " + r.number() + " less than " + r.exclusiveMaximum.rat.RatString() + ", got " + show(v))
	}
}

// compare compares a number argument with a bound exactly: a float64 against the bound's
// float64 when that is exact (the usual case, no allocation), else as rationals.
func compare(v any, b *bound) int {
	if f, ok := v.(float64); ok && b.exact {
		switch {
		case f < b.f:
			return -1
		case f > b.f:
			return 1
		}
		return 0
	}
	if rat, ok := numRat(v); ok {
		return rat.Cmp(b.rat)
	}
	// A number too large for big.Rat: its float64 is ±Inf or 0 with the right sign.
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return big.NewFloat(f).Cmp(new(big.Float).SetRat(b.rat))
}

func (r *rule) number() string {
	if r.typ == "integer" {
		return "an integer"
	}
	return "a number"
}

// patternWords says in words what each pattern used by the input schemas accepts; a test
// checks that every pattern in the catalog is listed.
var patternWords = map[string]string{
	patternUUID:   "a uuid",
	patternScope:  `"public" or a deployment uuid`,
	patternAPIKey: "an IAM API key id like EXO1a2b3c",
	patternAIName: "letters, digits, spaces and _'()- only, starting and ending with a letter or digit",
	patternTime:   "an RFC 3339 date-time like 2026-01-31T23:59:00Z",
}

// The patterns of the input schemas, as written in operations/*.json.
const (
	patternUUID   = "^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"
	patternScope  = "^(public|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"
	patternAPIKey = "^EXO[0-9A-Za-z]+$"
	patternAIName = "^[A-Za-z0-9](?:[A-Za-z0-9 _'()-]*[A-Za-z0-9])?$"
	patternTime   = `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`
)

// seeRef finds "see <tool>" in a property description: the error then repeats where to get a
// valid value, which the model may not have read.
var seeRef = regexp.MustCompile(`\bsee ([a-z]+(?:-[a-z]+)*)`)

func seeHint(description string) string {
	if m := seeRef.FindStringSubmatch(description); m != nil {
		return " (see " + m[1] + ")"
	}
	return ""
}

func typeWords(want []string) string {
	words := make([]string, len(want))
	for i, w := range want {
		switch w {
		case "object", "array", "integer":
			words[i] = "an " + w
		case "null":
			words[i] = "null"
		case "boolean":
			words[i] = "a boolean (true or false)"
		default:
			words[i] = "a " + w
		}
	}
	return strings.Join(words, " or ")
}

func oneOf(values []any) string {
	if len(values) == 1 {
		return plain(values[0])
	}
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = plain(v)
	}
	return "one of " + strings.Join(parts, ", ")
}

// plain shows a schema value (an enum member) unquoted when it is a string.
func plain(v any) string {
	if s, ok := v.(string); ok {
		return truncate(s)
	}
	return show(v)
}

// show renders a value the caller sent, bounded: strings quoted and cut after maxShown runes,
// objects and arrays only named, never echoed.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return truncate(v.String())
	case float64:
		return truncate(formatJSONFloat(v))
	case string:
		if n := utf8.RuneCountInString(v); n > maxShown {
			return strconv.Quote(truncate(v)) + fmt.Sprintf(" (%d characters)", n)
		}
		return strconv.Quote(v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return jsonKind(v)
}

// formatJSONFloat writes f as encoding/json does (1e+21, 100000000000000000000, 1e-7): the
// model sees its number as JSON wrote it.
func formatJSONFloat(f float64) string {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// jsonKind names a value by its JSON type, never by its Go type: the model only knows JSON.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case json.Number, float32, float64, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "a number"
	}
	// Anything else came from Go code, not JSON: say what JSON it would have been.
	b, err := json.Marshal(v)
	if err != nil {
		return "a value JSON cannot represent"
	}
	var back any
	if json.Unmarshal(b, &back) != nil {
		return "a value JSON cannot represent"
	}
	return jsonKind(back)
}

// JSONKind names v by its JSON type ("an array", "a string", "null"), for messages about
// values a caller sent: a Go type name ("[]interface {}") means nothing to a model.
func JSONKind(v any) string { return jsonKind(v) }

func truncate(s string) string {
	if utf8.RuneCountInString(s) <= maxShown {
		return s
	}
	r := []rune(s)
	return string(r[:maxShown]) + "…"
}

// showKey renders an object key for a field path: as is when it is a plain name, quoted when
// it holds anything that would make the path ambiguous or unreadable; cut when long.
func showKey(k string) string {
	plainKey := k != "" && !strings.ContainsFunc(k, func(r rune) bool {
		return r == '.' || r == '[' || r == ']' || r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r)
	})
	if plainKey {
		return truncate(k)
	}
	return strconv.Quote(truncate(k))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") {
		return strconv.Itoa(n) + " " + strings.TrimSuffix(word, "y") + "ies"
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// fieldPath renders an instance location the way a model writes it: keys joined by dots,
// array positions in brackets ("services.compute.rules[0].action").
func fieldPath(inst any, loc []string) string {
	var b strings.Builder
	cur := inst
	for _, seg := range loc {
		switch c := cur.(type) {
		case []any:
			b.WriteString("[" + seg + "]")
			i, err := strconv.Atoi(seg)
			if err == nil && i >= 0 && i < len(c) {
				cur = c[i]
			} else {
				cur = nil
			}
			continue
		case map[string]any:
			cur = c[seg]
		default:
			cur = nil
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(showKey(seg))
	}
	return b.String()
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escapePointer escapes a key for a JSON pointer (RFC 6901).
func escapePointer(s string) string {
	return pointerEscaper.Replace(s)
}

// schemaNode is what indexSchema records of one schema object.
type schemaNode struct {
	description string
	typ         string // the "type" keyword when it is a single type
	properties  []string
}

// indexSchema reads the schema source in order, recording every object's description and
// property names: the compiled schema keeps properties in a map, which would lose the order
// the allowed arguments are listed in.
func indexSchema(raw []byte) (map[string]schemaNode, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	nodes := map[string]schemaNode{}
	var walk func(ptr string) error
	walk = func(ptr string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			var n schemaNode
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				child := ptr + "/" + escapePointer(key)
				switch key {
				case "description":
					var d any
					if err := dec.Decode(&d); err != nil {
						return err
					}
					n.description, _ = d.(string)
				case "type":
					var t any
					if err := dec.Decode(&t); err != nil {
						return err
					}
					n.typ, _ = t.(string)
				case "properties":
					if t, err := dec.Token(); err != nil {
						return err
					} else if t != json.Delim('{') {
						return fmt.Errorf("%s: properties is not an object", ptr)
					}
					for dec.More() {
						pt, err := dec.Token()
						if err != nil {
							return err
						}
						p, _ := pt.(string)
						n.properties = append(n.properties, p)
						if err := walk(child + "/" + escapePointer(p)); err != nil {
							return err
						}
					}
					if _, err := dec.Token(); err != nil {
						return err
					}
				default:
					if err := walk(child); err != nil {
						return err
					}
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			nodes[ptr] = n
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(ptr + "/" + strconv.Itoa(i)); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return nodes, nil
}
