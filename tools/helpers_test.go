package tools

import (
	"context"
	"flag"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// env is an engine in front of a sandbox.
type env struct {
	sb  *sandbox.Sandbox
	e   *Engine
	key string // the server's key
}

// newEnv starts a sandbox and an engine on it; opts.Client is set by newEnv.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	sb, client := sandboxtest.ServerClient(t)
	opts.Client = client
	if opts.Secrets.Mode == "" {
		opts.Secrets = SecretDelivery{Mode: DeliverInline}
	}
	e, err := New(opts)
	require.NoError(t, err)
	return &env{sb: sb, e: e, key: client.Credentials().Key}
}

// call runs one operation; a Go error fails the test.
func (v *env) call(t *testing.T, ctx context.Context, op string, args map[string]any) Result {
	t.Helper()
	res, err := v.e.Call(ctx, op, args)
	require.NoError(t, err)
	return res
}

// fakePeer is a Peer for tests: a session, recorded progress, and scripted answers.
type fakePeer struct {
	session string
	canAsk  bool
	answers map[string]Answer

	mu       sync.Mutex
	progress []string
}

func (p *fakePeer) SessionID() string { return p.session }
func (p *fakePeer) Progress(_ context.Context, _ int, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.progress = append(p.progress, msg)
}
func (p *fakePeer) CanAsk() bool { return p.canAsk }
func (p *fakePeer) Answer(id string) (Answer, bool) {
	a, ok := p.answers[id]
	return a, ok
}

func apiclientCreds() apiclient.Credentials {
	return apiclient.Credentials{Key: "EXOtest", Secret: "s"}
}
