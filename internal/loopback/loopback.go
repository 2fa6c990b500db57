// Package loopback tells whether a host names this machine's loopback interface: the one rule
// for "is this address local" (the HTTP exposure rules, Origin checks, plain-http endpoints).
package loopback

import (
	"net"
	"strings"
)

// IsHost reports whether host (a name or an IP literal, without port or brackets) names the
// loopback interface: "localhost" in any case, with or without the root's trailing dot, or a
// loopback address (127.0.0.0/8, ::1).
func IsHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
