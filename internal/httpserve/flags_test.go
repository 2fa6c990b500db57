package httpserve

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckExposure_NeedsTokenAndTLSOffLoopback checks the rule itself, including the cases
// that start (they would bind a public address, which tests do not do).
func TestCheckExposure_NeedsTokenAndTLSOffLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen, token, cert, key string
		insecure                 bool
		wantErr                  string
	}{
		{listen: "127.0.0.1:8080"},
		{listen: "127.0.0.2:8080"},
		{listen: "[::1]:8080"},
		{listen: "localhost:8080"},
		{listen: "LOCALHOST:8080"},
		{listen: "0.0.0.0:8080", token: "t", insecure: true},
		{listen: "0.0.0.0:8080", token: "t", cert: "c.pem", key: "k.pem"},
		{listen: "10.0.0.1:8443", token: "t", cert: "c.pem", key: "k.pem"},
		{listen: "0.0.0.0:8080", wantErr: "bearer token"},
		{listen: "0.0.0.0:8080", cert: "c.pem", key: "k.pem", wantErr: "bearer token"},
		{listen: "0.0.0.0:8080", token: "t", wantErr: "TLS"},
		{listen: "0.0.0.0:8080", token: "t", cert: "c.pem", wantErr: "--tls-key go together"},
		{listen: "127.0.0.1:8080", key: "k.pem", wantErr: "--tls-cert and --tls-key go together"},
		{listen: ":8080", token: "t", wantErr: "TLS"},
		{listen: "localhost.evil.example:8080", wantErr: "bearer token"},
		{listen: "8080", wantErr: "--listen"},
	} {
		f := Flags{Listen: tc.listen, TLSCert: tc.cert, TLSKey: tc.key, AllowInsecureHTTP: tc.insecure}
		err := f.CheckExposure(tc.token)
		if tc.wantErr == "" {
			assert.NoError(t, err, "%+v", tc)
		} else if assert.Error(t, err, "%+v", tc) {
			assert.Contains(t, err.Error(), tc.wantErr)
		}
	}
}

// TestAuthToken_FromEnvOrFileNeverAFlag: the flags offer no way to pass the token's value; the
// default address is loopback.
func TestAuthToken_FromEnvOrFileNeverAFlag(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	var f Flags
	f.Register(fs)
	assert.Equal(t, "127.0.0.1:8080", fs.Lookup("listen").DefValue)
	require.NotNil(t, fs.Lookup("auth-token-file"))
	fs.VisitAll(func(fl *flag.Flag) {
		if strings.Contains(fl.Name, "token") {
			assert.Equal(t, "auth-token-file", fl.Name, "a flag may name a token file, never hold a token")
		}
	})

	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("  from-file\n"), 0o600))
	env := func(string) string { return " from-env " }
	tok, err := (&Flags{}).AuthToken(env)
	require.NoError(t, err)
	assert.Equal(t, "from-env", tok)
	tok, err = (&Flags{AuthTokenFile: file}).AuthToken(env)
	require.NoError(t, err)
	assert.Equal(t, "from-file", tok, "the file the operator named wins over the environment")
}

// TestFlags_DefaultsNeverBiteANormalAgent, and the timeouts reach the http.Server.
func TestFlags_DefaultsNeverBiteANormalAgent(t *testing.T) {
	t.Parallel()
	f := defaults(t)
	assert.GreaterOrEqual(t, f.Limits.SessionRate, 50.0)
	assert.GreaterOrEqual(t, f.Limits.SessionBurst, 50)
	assert.GreaterOrEqual(t, f.Limits.Rate, 5000.0)
	assert.GreaterOrEqual(t, f.Limits.AddressRate, f.Limits.SessionRate, "one address may run a few sessions at full speed")
	assert.Less(t, f.Limits.AddressBurst, f.Limits.Burst, "one address cannot take the whole overall burst")
	assert.GreaterOrEqual(t, f.Limits.MaxSessions, 1000)
	assert.Equal(t, int64(1<<20), f.Limits.MaxBody)
	assert.Positive(t, f.Limits.ReadHeaderTimeout)
	assert.Equal(t, 30*time.Second, f.Limits.ReadTimeout)

	s, err := New(defaults(t, "--read-header-timeout", "3s"), "")
	require.NoError(t, err)
	hs, shutdown := s.newHTTPServer(discardLog(), server.NewMCPServer("test", "1"))
	defer shutdown(t.Context())
	assert.Equal(t, 3*time.Second, hs.ReadHeaderTimeout)
	assert.Zero(t, hs.ReadTimeout, "a server-wide ReadTimeout would end long streams; the body deadline is per request")
	assert.Positive(t, hs.IdleTimeout)
	assert.Positive(t, hs.MaxHeaderBytes)
}

// TestNew_RefusesBadTLSFiles before anything is started.
func TestNew_RefusesBadTLSFiles(t *testing.T) {
	t.Parallel()
	f := defaults(t)
	f.TLSCert, f.TLSKey = filepath.Join(t.TempDir(), "nope.pem"), filepath.Join(t.TempDir(), "nope.key")
	_, err := New(f, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--tls-cert")
}
