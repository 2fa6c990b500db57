// Package httpserve serves an MCP server over the streamable HTTP transport, hardened for
// exposure beyond one user's machine.
//
// A request travels
//
//	client → listener (TLS, header and body deadlines) → one middleware per check → mcp-go's
//	StreamableHTTPServer → the MCP adapter → the tools engine → apiclient → Exoscale
//
// mcp-go checks the Host header on loopback and nothing else; every other check is ours, each
// in its own middleware, in this order (cheapest refusal first, and nothing of the body read
// before the caller has shown it may send one):
//
//   - [queryCredentials]: credentials never travel in the query string (proxy logs keep it)
//   - [origin]: a present Origin must be loopback or allowed, against DNS rebinding
//     (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning)
//   - [bearer]: the operator's token, when there is one
//   - [tenantCredentials]: in multi-tenant mode, the caller's own Exoscale key and secret
//   - [sessions]: a session id must be live (and, multi-tenant, the caller's)
//     (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#session-management)
//   - [rateLimit]: per address, per credential or session, then overall (see [Limiter])
//   - [readDeadline] and [bodyLimit]: a body arrives in time and in size, or not at all
//   - [stampNotifications]: a workaround for mcp-go, in its own file
//   - [sessionCap.limit]: every initialize holds a place under --max-sessions
//
// The refusals before the body is read (query, Origin, token, credentials) close the
// connection at once: a client that trickles a body it was never allowed to send holds
// nothing.
package httpserve
