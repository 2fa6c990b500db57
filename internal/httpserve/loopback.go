package httpserve

import (
	"net"
	"strings"
)

// IsLoopbackHost reports whether host (a name or an IP literal, without port or brackets)
// names this machine's loopback interface: "localhost" in any case, with or without the
// root's trailing dot, or a loopback address (127.0.0.0/8, ::1).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
