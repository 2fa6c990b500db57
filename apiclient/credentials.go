package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Credentials are an Exoscale API key and its secret.
//
// Its String, GoString and LogValue methods never show the secret, so a Credentials value
// (or a struct holding one) can be printed with any fmt verb or logged with slog safely.
type Credentials struct {
	Key    string
	Secret string
}

// IsZero reports whether neither the key nor the secret is set.
func (c Credentials) IsZero() bool { return c.Key == "" && c.Secret == "" }

// complete reports whether both halves are set, the only state that can sign.
func (c Credentials) complete() bool { return c.Key != "" && c.Secret != "" }

// String shows a prefix of the key only, e.g. "EXO123… (secret hidden)".
func (c Credentials) String() string {
	if c.IsZero() {
		return "(no credentials)"
	}
	key := c.Key
	if key == "" {
		key = "(no key)"
	} else if r := []rune(key); len(r) > 6 {
		// The key is an identifier, not a secret, but a prefix is enough to recognise it.
		key = string(r[:6]) + "…"
	}
	if c.Secret == "" {
		return key + " (no secret)"
	}
	return key + " (secret hidden)"
}

// GoString makes %#v as safe as %v.
func (c Credentials) GoString() string { return "apiclient.Credentials{" + c.String() + "}" }

// LogValue implements slog.LogValuer so that logging credentials never logs the secret.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Format implements fmt.Formatter so that every verb (%s, %v, %+v, %q, %x, %#v …) shows the
// redacted form: without it, %x or %q of the struct would print the fields.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(c.GoString()))
		return
	}
	_, _ = f.Write([]byte(c.String()))
}

// MarshalJSON writes the redacted form, so that JSON logging of a struct holding credentials
// (slog's JSON handler marshals structs) cannot leak the secret. Credentials are never meant
// to be serialized.
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

type credentialsKey struct{}

// WithCredentials returns a ctx whose requests (Do and Wait) are signed with creds instead of
// the client's default credentials: in multi-tenant HTTP mode every session brings its own.
func WithCredentials(ctx context.Context, c Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// CredentialsFrom returns the credentials stored by WithCredentials, if any.
func CredentialsFrom(ctx context.Context) (Credentials, bool) {
	c, ok := ctx.Value(credentialsKey{}).(Credentials)
	return c, ok
}
