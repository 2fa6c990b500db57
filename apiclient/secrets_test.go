package apiclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCredentials_NeverFormatTheSecret(t *testing.T) {
	t.Parallel()
	creds := testCreds
	values := map[string]any{
		"value":    creds,
		"pointer":  &creds,
		"resolved": &Resolved{Endpoint: "https://x/v2", Credentials: creds, Source: "env"},
		"config":   Config{Endpoint: "https://x/v2", Credentials: creds},
		"account":  account{Name: "a", Key: creds.Key, Secret: creds.Secret, creds: creds},
		"slice":    []Credentials{creds},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, creds.Secret, "%s with %s: %s", name, verb, out)
			assert.NotContains(t, out, fmt.Sprintf("%x", creds.Secret), "%s with %s", name, verb)
		}
	}
	assert.Equal(t, "EXOtes… (secret hidden)", creds.String())
	assert.Equal(t, "(no credentials)", Credentials{}.String())
	assert.Equal(t, "EXOk (no secret)", Credentials{Key: "EXOk"}.String())

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("creds", "creds", creds, "ptr", &creds, "config", Config{Credentials: creds}, "resolved", Resolved{Credentials: creds})
		log.Info("group", slog.Group("g", slog.Any("c", creds)))
	}
	assert.NotContains(t, buf.String(), creds.Secret)
	assert.Contains(t, buf.String(), "secret hidden")
}

// A server (or a proxy in between) that echoes the request back must not get the secret, the
// Authorization header or the signature into our errors or logs.
func TestErrorsAndLogs_NeverContainSecrets(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		auth := r.Header.Get("Authorization")
		sig := auth[strings.LastIndex(auth, "signature=")+len("signature="):]
		switch r.URL.Path {
		case "/v2/problem":
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"title":"Bad %s","detail":"secret was %s","errors":[{"path":"%s","detail":"%s"}]}`, sig, testCreds.Secret, auth, sig)
		case "/v2/message":
			w.WriteHeader(403)
			fmt.Fprintf(w, `{"message":"Invalid request signature %s for %s"}`, sig, auth)
		case "/v2/plain":
			w.WriteHeader(503)
			fmt.Fprintf(w, "upstream saw Authorization: %s (secret %s)\n", auth, testCreds.Secret)
		case "/v2/drop":
			dropConnection(t, w, r)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	})
	var logs bytes.Buffer
	c := newTestClient(t, srv.endpoint(), func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var errs []string
	for _, p := range []string{"/problem", "/message", "/plain", "/drop", "/ok"} {
		for _, m := range []string{"GET", "POST"} {
			_, err := c.Do(context.Background(), Request{Operation: "op", Method: m, Path: p, Body: []byte(`{}`)})
			if err != nil {
				errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			}
		}
	}
	_, err := c.Wait(context.Background(), &Operation{ID: "x", State: StatePending}, nil) // polls /operation/x: {} has no state
	require.Error(t, err)
	errs = append(errs, err.Error())
	require.Len(t, errs, 3*8+1)

	all := strings.Join(errs, "\n") + logs.String()
	assert.NotContains(t, all, testCreds.Secret)
	assert.NotContains(t, all, "EXO2-HMAC-SHA256")
	assert.NotContains(t, all, "signature=")
	assert.Contains(t, all, "[REDACTED]", "echoed values are replaced, the rest of the message kept")
	assert.Contains(t, logs.String(), `"operation":"op"`)
}
