package httpserve

import (
	"net/http"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
)

const cancelNotification = `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}`

func TestStampNotificationVersion(t *testing.T) {
	t.Parallel()
	const v = "2026-07-28"
	got := stampNotificationVersion(v, []byte(cancelNotification))
	assert.JSONEq(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, string(got))
	for _, unchanged := range []struct{ version, body string }{
		{"2025-11-25", cancelNotification},                                // the legacy era needs nothing
		{v, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`}, // a request: left to mcp-go's checks
		{v, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"x"}}}`}, // already says
		{v, `not json "notifications/`},
	} {
		assert.Equal(t, unchanged.body, string(stampNotificationVersion(unchanged.version, []byte(unchanged.body))))
	}
}

// modernHeaders are what a 2026-07-28 client sends with a notification.
func modernHeaders() []string {
	return []string{"Mcp-Protocol-Version", mcp.ProtocolVersion20260728, "Mcp-Method", "notifications/cancelled"}
}

// TestStampNotifications_MCPGoAcceptsTheStampedNotification: through the whole stack, the
// notification a 2026-07-28 client sends is accepted.
func TestStampNotifications_MCPGoAcceptsTheStampedNotification(t *testing.T) {
	t.Parallel()
	h, _ := endpoint(t, "")
	w := serve(h, req(http.MethodPost, cancelNotification, modernHeaders()...))
	assert.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
}

// TestMCPGo_RejectsNotificationWithoutVersion pins the mcp-go defect stampNotifications works
// around. When it fails, mcp-go accepts such notifications itself: delete notifyversion.go,
// its tests and the middleware's place in Server.handler.
func TestMCPGo_RejectsNotificationWithoutVersion(t *testing.T) {
	t.Parallel()
	bare := server.NewStreamableHTTPServer(server.NewMCPServer("test", "1"), server.WithEndpointPath("/mcp"))
	w := serve(bare, req(http.MethodPost, cancelNotification, modernHeaders()...))
	assert.Equal(t, http.StatusBadRequest, w.Code, "mcp-go now accepts a 2026-07-28 notification without _meta: remove the workaround")
	stamped := string(stampNotificationVersion(mcp.ProtocolVersion20260728, []byte(cancelNotification)))
	w = serve(bare, req(http.MethodPost, stamped, modernHeaders()...))
	assert.Equal(t, http.StatusAccepted, w.Code, "the version in _meta is all it misses: %s", w.Body.String())
}
