package httpserve

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/loopback"
)

// Flags are the http command's own flags.
type Flags struct {
	Listen                 string
	AuthTokenFile          string
	TLSCert, TLSKey        string
	AllowInsecureHTTP      bool
	AllowedOrigins         string // comma-separated
	CredentialsFromHeaders bool
	Limits                 Limits
}

// Limits bound what one client can make the server do. The defaults never bite a normal agent.
type Limits struct {
	MaxBody           int64
	MaxSessions       int
	Rate              float64 // requests per second, whole server; ≤ 0: no limit
	Burst             int
	SessionRate       float64 // per session, or per credential without one (multi-tenant)
	SessionBurst      int
	AddressRate       float64 // per client address, multi-tenant only
	AddressBurst      int
	SessionIdleTTL    time.Duration
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration // a request's body, from its headers to its last byte
}

// Register adds the flags to fs with their defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Listen, "listen", "127.0.0.1:8080", "address to listen on; off loopback it needs a bearer token and TLS (or --allow-insecure-http)")
	fs.StringVar(&f.AuthTokenFile, "auth-token-file", "", "file holding the bearer token clients must send (or set EXOSCALE_MCP_AUTH_TOKEN)")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "TLS certificate file")
	fs.StringVar(&f.TLSKey, "tls-key", "", "TLS key file")
	fs.BoolVar(&f.AllowInsecureHTTP, "allow-insecure-http", false, "serve plain HTTP off loopback (behind a TLS-terminating proxy)")
	fs.StringVar(&f.AllowedOrigins, "allowed-origins", "", "comma-separated Origins allowed besides loopback ones (e.g. https://app.example.com)")
	fs.BoolVar(&f.CredentialsFromHeaders, "credentials-from-headers", false, "multi-tenant: each request signs with the key in X-Exoscale-Api-Key and X-Exoscale-Api-Secret")
	l := &f.Limits
	fs.Int64Var(&l.MaxBody, "max-body", 1<<20, "largest request body in bytes (413 above)")
	fs.IntVar(&l.MaxSessions, "max-sessions", 1000, "most live MCP sessions")
	fs.Float64Var(&l.Rate, "rate", 5000, "most requests per second, whole server")
	fs.IntVar(&l.Burst, "burst", 10000, "burst above --rate")
	fs.Float64Var(&l.SessionRate, "session-rate", 100, "most requests per second per session (and, with --credentials-from-headers, per credential for clients without sessions)")
	fs.IntVar(&l.SessionBurst, "session-burst", 200, "burst above --session-rate")
	fs.Float64Var(&l.AddressRate, "address-rate", 500, "with --credentials-from-headers: most requests per second per client address (credentials are unverified until Exoscale sees them)")
	fs.IntVar(&l.AddressBurst, "address-burst", 1000, "burst above --address-rate")
	fs.DurationVar(&l.SessionIdleTTL, "session-idle-ttl", 30*time.Minute, "forget sessions idle this long")
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time allowed to read request headers")
	fs.DurationVar(&l.ReadTimeout, "read-timeout", 30*time.Second, "time allowed to read a request body after its headers (408 past it)")
}

// AuthToken reads the bearer token: from --auth-token-file, else EXOSCALE_MCP_AUTH_TOKEN, never
// a flag value (it would show in ps).
func (f *Flags) AuthToken(getenv func(string) string) (string, error) {
	if f.AuthTokenFile != "" {
		b, err := os.ReadFile(f.AuthTokenFile)
		if err != nil {
			return "", fmt.Errorf("--auth-token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("--auth-token-file %s is empty", f.AuthTokenFile)
		}
		return tok, nil
	}
	return strings.TrimSpace(getenv("EXOSCALE_MCP_AUTH_TOKEN")), nil
}

// CheckExposure refuses to serve off loopback without a token and without TLS (or an explicit
// waiver): an open MCP endpoint here holds the keys to an organization.
func (f *Flags) CheckExposure(token string) error {
	host, _, err := net.SplitHostPort(f.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", f.Listen, err)
	}
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither")
	}
	if loopback.IsHost(host) {
		return nil
	}
	var missing []string
	if token == "" {
		missing = append(missing, "a bearer token (EXOSCALE_MCP_AUTH_TOKEN or --auth-token-file)")
	}
	if (f.TLSCert == "" || f.TLSKey == "") && !f.AllowInsecureHTTP {
		missing = append(missing, "TLS (--tls-cert and --tls-key, or --allow-insecure-http behind a TLS-terminating proxy)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("refusing to listen on %s, which is not loopback, without %s", f.Listen, strings.Join(missing, " and "))
	}
	return nil
}
