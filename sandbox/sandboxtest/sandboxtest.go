// Package sandboxtest serves the sandbox to tests: one call starts it on 127.0.0.1 for the
// length of a test and gives the endpoint and an API client on it.
package sandboxtest

import (
	"testing"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// Start serves a new sandbox on 127.0.0.1 until t ends and returns it with its endpoint.
func Start(t testing.TB, opts ...sandbox.Option) (*sandbox.Sandbox, string) {
	t.Helper()
	sb := sandbox.New(opts...)
	base, stop, err := sb.Start()
	if err != nil {
		t.Fatalf("starting the sandbox: %v", err)
	}
	t.Cleanup(stop)
	return sb, base
}

// Client is an API client on endpoint signing with creds. It sends each request once (a test
// that wants retries sets them itself) and polls operations every millisecond.
func Client(t testing.TB, endpoint string, creds apiclient.Credentials) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(apiclient.Config{
		Endpoint: endpoint, Credentials: creds, MaxRetries: -1,
		Poll: apiclient.PollConfig{First: time.Millisecond, Interval: time.Millisecond},
	})
	if err != nil {
		t.Fatalf("API client on the sandbox: %v", err)
	}
	return c
}

// ServerClient starts a sandbox and returns it with a client signing with the key the server
// uses in it (sandbox.ServerCredentials).
func ServerClient(t testing.TB, opts ...sandbox.Option) (*sandbox.Sandbox, *apiclient.Client) {
	t.Helper()
	sb, base := Start(t, opts...)
	key, secret := sb.ServerCredentials()
	return sb, Client(t, base, apiclient.Credentials{Key: key, Secret: secret})
}
