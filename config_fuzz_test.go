package main

// Fuzzing of configuration parsing: the exo CLI's exoscale.toml as apiclient.Resolve reads it.
// (The other fuzz targets live with the code they exercise: apiclient's signer and error-body
// parser, tools' argument validation and request building.) Seed corpus:
// testdata/fuzz/FuzzConfigFile.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
)

// FuzzConfigFile: whatever exoscale.toml holds, Resolve does not panic; what it returns on
// success is usable (complete credentials, a known zone, an endpoint apiclient.New accepts);
// and no secret of the file ever shows in an error, a warning, the source or a formatted
// Resolved.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("[[accounts]]\nname = \"main\"\nkey = \"EXO0123456789abcdef01234567\"\nsecret = \"Sup3rS3cretValue-0123456789\"\n"))
	f.Add([]byte("defaultAccount = \"b\"\n[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecret = \"secret-of-account-a-0123456789\"\n[[accounts]]\nname = \"b\"\nkey = \"EXOb\"\nsecret = \"secret-of-account-b-0123456789\"\ndefaultZone = \"de-fra-1\"\nendpoint = \"https://api-de-fra-1.exoscale.com/v1\"\n"))
	f.Add([]byte("[[accounts]]\nname = \"broken\"\nkey = \"EXOkey\"\nsecret = \"unterminated-secret-value-0123456789\n"))
	f.Add([]byte("DefaultAccount = \"x\"\n[[Accounts]]\nNAME = \"x\"\nKey = \"EXOk\"\nSecret = \"case-insensitive-secret-0123456789\"\nEndpoint = \"http://127.0.0.1:8080\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw map[string]any
		parsed := toml.Unmarshal(data, &raw) == nil
		if parsed && hasKeyLike(raw, "secretcommand") {
			return // a secretCommand would run a program: never from fuzzed input
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "exoscale.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"EXOSCALE_CONFIG": path}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := apiclient.Resolve(ctx, apiclient.Settings{Getenv: func(k string) string { return env[k] }})

		var shown []string
		if err != nil {
			shown = append(shown, err.Error())
		} else {
			if r.Credentials.Key == "" || r.Credentials.Secret == "" {
				t.Fatalf("resolved incomplete credentials (key %q)", r.Credentials.Key)
			}
			if !slices.Contains(apiclient.Zones, r.Zone) {
				t.Fatalf("resolved unknown zone %q", r.Zone)
			}
			if _, err := apiclient.New(apiclient.Config{Endpoint: r.Endpoint, Credentials: r.Credentials}); err != nil {
				t.Fatalf("resolved endpoint %q that apiclient.New refuses: %v", r.Endpoint, err)
			}
			if !strings.HasPrefix(r.Source, path) {
				t.Fatalf("source %q does not name the file", r.Source)
			}
			shown = append(shown, r.Source, r.Endpoint, r.Zone, r.Credentials.Key, fmt.Sprintf("%v %+v %#v", r, r, r))
			shown = append(shown, r.Warnings...)
		}
		if !parsed {
			return // no way to tell the secrets of an unparsable file; apiclient's own tests cover its error text
		}
		for _, secret := range secretsOf(raw, path) {
			for _, s := range shown {
				if strings.Contains(s, secret) {
					t.Fatalf("the secret %q shows in %q", secret, s)
				}
			}
		}
	})
}

// hasKeyLike reports whether any table key, at any depth, equals name case-insensitively.
func hasKeyLike(v any, name string) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, el := range t {
			if strings.EqualFold(k, name) || hasKeyLike(el, name) {
				return true
			}
		}
	case []map[string]any:
		for _, el := range t {
			if hasKeyLike(el, name) {
				return true
			}
		}
	case []any:
		for _, el := range t {
			if hasKeyLike(el, name) {
				return true
			}
		}
	}
	return false
}

// secretsOf returns the accounts' secret values that are distinctive enough to look for in
// output: at least 16 characters, and not part of any other key or value of the file nor of
// its path (which output may show legitimately).
func secretsOf(raw map[string]any, path string) []string {
	var secrets, others []string
	others = append(others, path)
	var walk func(v any, inAccount bool)
	walk = func(v any, inAccount bool) {
		switch t := v.(type) {
		case map[string]any:
			for k, el := range t {
				others = append(others, k)
				if s, ok := el.(string); ok && inAccount && strings.EqualFold(k, "secret") {
					secrets = append(secrets, s)
					continue
				}
				walk(el, inAccount || strings.EqualFold(k, "accounts"))
			}
		case []map[string]any:
			for _, el := range t {
				walk(el, inAccount)
			}
		case []any:
			for _, el := range t {
				walk(el, inAccount)
			}
		case string:
			others = append(others, t)
		default:
			others = append(others, fmt.Sprint(t))
		}
	}
	walk(raw, false)
	var out []string
	for _, s := range secrets {
		if len(s) < 16 || slices.ContainsFunc(others, func(o string) bool { return strings.Contains(o, s) }) {
			continue
		}
		out = append(out, s)
	}
	return out
}
