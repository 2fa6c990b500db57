package jsonguard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceCheck is Check written on encoding/json's tokenizer: slower (a token at a time, every
// path built as it goes) but plainly right, so that the fuzzer can hold the scanner to it.
func referenceCheck(msg []byte) error {
	d := json.NewDecoder(bytes.NewReader(msg))
	d.UseNumber()
	c := refChecker{dec: d}
	if err := c.value("", 0); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return &Error{Code: CodeParseError, Reason: "parse error: more than one JSON value in the message"}
	}
	return nil
}

type refChecker struct{ dec *json.Decoder }

func (c *refChecker) value(path string, depth int) error {
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

func (c *refChecker) object(path string, depth int) error {
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

// FuzzCheck_AgreesWithReference holds the scanner to the tokenizer-based reference: the same
// messages accepted, the same refused with the same code and field.
func FuzzCheck_AgreesWithReference(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"dry-run":true,"dry-run":false}}}`,
		`[1,2.5e300,{"a":[{}]}]`, `{"a":"\u0041","A":1}`, `{"k":1,"\u212a":2}`, `-0.5e-3`, `"x\"y"`,
		`{"a":[1,{"b":9007199254740993}]}`, `{} {}`, `{"a":`, `[1,]`, `{"a" 1}`, `01`, `1.`, `tru`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, want := Check(msg), referenceCheck(msg)
		if (got == nil) != (want == nil) {
			t.Fatalf("%q: scanner %v, reference %v", msg, got, want)
		}
		if got == nil {
			return
		}
		var g, w *Error
		require.ErrorAs(t, got, &g)
		require.ErrorAs(t, want, &w)
		if w.Code == CodeInvalidRequest || g.Code == CodeInvalidRequest {
			require.Equal(t, w.Code, g.Code, "%q: scanner %v, reference %v", msg, got, want)
			require.Equal(t, w.Path, g.Path, "%q", msg)
		}
	})
}
