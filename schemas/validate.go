package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
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
// itself is broken (a bug, not the caller's fault).
//
// An op that is not a catalog entry (or whose schema differs from the catalog's) is validated
// against its own schema, compiled for that call only.
func Validate(op Operation, args map[string]any) error {
	return defaultValidators().validate(op, args)
}

// Limits that keep an error message readable and bounded whatever the model sent.
const (
	maxShown         = 40 // runes of a value or key echoed back
	maxViolations    = 20
	maxAllowedListed = 30
)

// compileTotal counts schema compilations in the process: start-up must not compile any.
var compileTotal atomic.Int64

// validatorSet holds one lazily compiled validator per catalog operation.
type validatorSet struct {
	byName   map[string]*lazyValidator // fixed at construction, read-only afterwards
	compiles atomic.Int64
}

type lazyValidator struct {
	once   sync.Once
	name   string
	schema json.RawMessage
	v      *compiledSchema
	err    error
}

// compiledSchema is a validator plus what the error wording needs from the schema source:
// for each schema object (by JSON pointer) its description and its property names in order.
type compiledSchema struct {
	schema *jsonschema.Schema
	nodes  map[string]schemaNode
}

type schemaNode struct {
	description string
	typ         string // the "type" keyword when it is a single type
	properties  []string
}

var defaultValidators = sync.OnceValue(func() *validatorSet {
	return newValidatorSet(loadCatalog().ops)
})

func newValidatorSet(ops []Operation) *validatorSet {
	s := &validatorSet{byName: make(map[string]*lazyValidator, len(ops))}
	for _, op := range ops {
		s.byName[op.Name] = &lazyValidator{name: op.Name, schema: op.validationSchema()}
	}
	return s
}

func (s *validatorSet) compiled(op Operation) (*compiledSchema, error) {
	lv, ok := s.byName[op.Name]
	if !ok || !bytes.Equal(lv.schema, op.validationSchema()) {
		s.compiles.Add(1)
		return compileSchema(op.Name, op.validationSchema())
	}
	lv.once.Do(func() {
		s.compiles.Add(1)
		lv.v, lv.err = compileSchema(lv.name, lv.schema)
	})
	return lv.v, lv.err
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
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schemas: %s input schema: %w", name, err)
	}
	loc := "mem:///" + url.PathEscape(name) + ".json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("schemas: %s input schema: %w", name, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("schemas: %s input schema: %w", name, err)
	}
	nodes, err := indexSchema(raw)
	if err != nil {
		return nil, fmt.Errorf("schemas: %s input schema: %w", name, err)
	}
	return &compiledSchema{schema: sch, nodes: nodes}, nil
}

func (s *validatorSet) validate(op Operation, args map[string]any) error {
	cs, err := s.compiled(op)
	if err != nil {
		return err
	}
	// Round-trip through JSON: the validator only understands JSON values, and args may hold
	// Go values (int, NaN, structs) when the caller did not decode them from JSON.
	inst := any(map[string]any{})
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return &ValidationError{Tool: op.Name, Violations: []Violation{{
				Message: "expected JSON values only, got a value JSON cannot represent",
			}}}
		}
		if inst, err = jsonschema.UnmarshalJSON(bytes.NewReader(raw)); err != nil {
			return fmt.Errorf("schemas: %s: re-decoding arguments: %w", op.Name, err)
		}
	}

	var vs []Violation
	if err := cs.schema.Validate(inst); err != nil {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			return fmt.Errorf("schemas: %s: %w", op.Name, err)
		}
		vs = cs.violations(verr, inst, vs)
	}
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
	return &ValidationError{Tool: op.Name, Violations: vs}
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

// violations walks the library's error tree and words each leaf ourselves: the library's own
// text ("at '/name': maxLength: got 63, want 50") is written for developers, not for a model.
func (cs *compiledSchema) violations(e *jsonschema.ValidationError, inst any, out []Violation) []Violation {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			out = cs.violations(c, inst, out)
		}
		return out
	}
	ptr := schemaPointer(e.SchemaURL)
	node := cs.nodes[ptr]
	field := fieldPath(inst, e.InstanceLocation)
	got := valueAt(inst, e.InstanceLocation)
	top := len(e.InstanceLocation) == 0

	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			msg := "required, missing" + seeHint(cs.nodes[ptr+"/properties/"+escapePointer(m)].description)
			out = append(out, Violation{Field: joinField(field, showKey(m)), Message: msg})
		}
		return out
	case *kind.AdditionalProperties:
		what := "unknown property"
		if top {
			what = "unknown argument"
		}
		var msg string
		switch allowed := node.properties; {
		case len(allowed) == 0 && top:
			msg = what + "; this tool takes no arguments"
		case len(allowed) == 0:
			msg = what + "; no properties allowed here"
		case len(allowed) > maxAllowedListed:
			msg = what + "; allowed: " + strings.Join(allowed[:maxAllowedListed], ", ") + ", ..."
		default:
			msg = what + "; allowed: " + strings.Join(allowed, ", ")
		}
		for _, p := range k.Properties {
			out = append(out, Violation{Field: joinField(field, showKey(p)), Message: msg})
		}
		return out
	}
	return append(out, Violation{Field: field, Message: leafMessage(e.ErrorKind, node, got)})
}

// leafMessage words one violation as "expected <what>, got <what>".
func leafMessage(ek jsonschema.ErrorKind, node schemaNode, got any) string {
	switch k := ek.(type) {
	case *kind.Type:
		return "expected " + typeWords(k.Want) + ", got " + show(got)
	case *kind.Enum:
		return "expected " + oneOf(k.Want) + ", got " + show(got)
	case *kind.Const:
		return "expected " + plain(k.Want) + ", got " + show(got)
	case *kind.Pattern:
		words, ok := patternWords[k.Want]
		if !ok {
			words = "a string matching " + k.Want
		}
		return "expected " + words + seeHint(node.description) + ", got " + show(k.Got)
	case *kind.MinLength:
		if k.Want == 1 {
			return msgEmpty
		}
		return fmt.Sprintf("expected a string of at least %s, got %s", plural(k.Want, "character"), plural(k.Got, "character"))
	case *kind.MaxLength:
		return fmt.Sprintf("expected a string of at most %s, got %s", plural(k.Want, "character"), plural(k.Got, "character"))
	case *kind.Minimum:
		return "expected " + node.number() + " of at least " + k.Want.RatString() + ", got " + show(got)
	case *kind.ExclusiveMinimum:
		return "expected " + node.number() + " greater than " + k.Want.RatString() + ", got " + show(got)
	case *kind.Maximum:
		return "expected " + node.number() + " of at most " + k.Want.RatString() + ", got " + show(got)
	case *kind.ExclusiveMaximum:
		return "expected " + node.number() + " less than " + k.Want.RatString() + ", got " + show(got)
	case *kind.MultipleOf:
		return "expected a multiple of " + k.Want.RatString() + ", got " + show(got)
	case *kind.UniqueItems:
		return fmt.Sprintf("expected unique items, got the same value at [%d] and [%d]", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinItems:
		return fmt.Sprintf("expected at least %s, got %d", plural(k.Want, "item"), k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("expected at most %s, got %d", plural(k.Want, "item"), k.Got)
	case *kind.MinProperties:
		return fmt.Sprintf("expected at least %s, got %d", plural(k.Want, "property"), k.Got)
	case *kind.MaxProperties:
		return fmt.Sprintf("expected at most %s, got %d", plural(k.Want, "property"), k.Got)
	case *kind.Format:
		return "expected a valid " + k.Want + ", got " + show(got)
	case *kind.FalseSchema:
		return "expected nothing here, got " + show(got)
	}
	return "expected a value satisfying " + strings.Join(ek.KeywordPath(), "/") + ", got " + show(got)
}

func (n schemaNode) number() string {
	if n.typ == "integer" {
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
}

// The patterns of the input schemas, as written in operations/*.json.
const (
	patternUUID   = "^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"
	patternScope  = "^(public|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"
	patternAPIKey = "^EXO[0-9A-Za-z]+$"
	patternAIName = "^[A-Za-z0-9](?:[A-Za-z0-9 _'()-]*[A-Za-z0-9])?$"
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
		return truncate(strconv.FormatFloat(v, 'g', -1, 64))
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

func valueAt(inst any, loc []string) any {
	cur := inst
	for _, seg := range loc {
		switch c := cur.(type) {
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		case map[string]any:
			cur = c[seg]
		default:
			return nil
		}
	}
	return cur
}

// schemaPointer extracts the JSON pointer from a compiled schema's location
// ("mem:///x.json#/properties/name" → "/properties/name").
func schemaPointer(loc string) string {
	_, frag, _ := strings.Cut(loc, "#")
	if p, err := url.PathUnescape(frag); err == nil {
		return p
	}
	return frag
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func escapePointer(s string) string {
	return pointerEscaper.Replace(s)
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
