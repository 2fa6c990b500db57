// Package apiclient talks to the Exoscale API v2 for exoscale-keys-mcp.
//
// It owns everything between a tool call and the wire: resolving the endpoint and
// credentials the way the exo CLI does (Resolve), EXO2-HMAC-SHA256 request signing
// (Authorization), one typed error for every error body shape the API returns (*Error),
// safe retries (only GET and PUT are ever resent: a POST that timed out may have created
// a key, and sending it again would mint a second one), and waiting on asynchronous
// operations (Client.Wait).
//
// Secrets (the API secret, signatures, the Authorization header) never appear in errors
// or logs produced by this package.
package apiclient
