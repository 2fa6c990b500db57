package main

// Load: many concurrent streamable HTTP sessions, each making a mix of creates, lists, gets and
// awaited deletes against one server and one sandbox. The short form runs in CI; the full
// 100 sessions × 50 calls runs with -load.long:
//
//	go test -race -run TestLoad -load.long .

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

var (
	loadLong     = flag.Bool("load.long", false, "TestLoad: the full load, 100 sessions × 50 calls (default: a short form for CI)")
	loadSessions = flag.Int("load.sessions", 0, "TestLoad: concurrent sessions (overrides the form's)")
	loadCalls    = flag.Int("load.calls", 0, "TestLoad: calls per session (overrides the form's)")
)

// loadShape returns the number of sessions and calls per session of this run.
func loadShape() (sessions, calls int) {
	sessions, calls = 20, 10
	if *loadLong {
		sessions, calls = 100, 50
	}
	if *loadSessions > 0 {
		sessions = *loadSessions
	}
	if *loadCalls > 0 {
		calls = *loadCalls
	}
	return sessions, calls
}

// loadSession is what one session did: the keys it created and has not deleted, and what went
// wrong.
type loadSession struct {
	live           []sandbox.APIKey // name and key of the keys this session owns now
	calls          int
	protocolErrors int      // CallTool (or Connect) returned an error
	toolErrors     int      // unexpected isError results or wrong answers
	examples       []string // the first few of either
}

// loadProtocols: even sessions speak the SDK's latest protocol version (2026-07-28: no
// session id, one POST per call), odd ones 2025-11-25 (stateful sessions), so the load covers
// both eras the server serves.
var loadProtocols = []string{"", "2025-11-25"}

// TestLoad_ConcurrentHTTPSessionsMixedCalls: N sessions × M calls (create, list, get, awaited
// delete) at once: no protocol error, no unexpected tool error, every answer consistent with
// the session's own calls, and the sandbox ends with exactly the keys the calls left.
func TestLoad_ConcurrentHTTPSessionsMixedCalls(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	sessions, calls := loadShape()
	t.Run(fmt.Sprintf("%dx%d", sessions, calls), func(t *testing.T) {
		env := newTestEnv(t, sandbox.WithoutSeed())
		// Every session comes from 127.0.0.1, and the server limits requests per client
		// address when there is no session id (2026-07-28): here they stand for many clients,
		// so that per-client budget is lifted. The server-wide limit stays as it is.
		url, stderr := env.startHTTPServer(t, nil, "--session-rate", "1000000", "--session-burst", "1000000")
		tr := &http.Transport{MaxIdleConns: 2 * sessions, MaxIdleConnsPerHost: 2 * sessions}
		t.Cleanup(tr.CloseIdleConnections)
		hc := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
		before := env.sb.State().APIKeys

		results := make([]*loadSession, sessions)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = runLoadSession(url, hc, i, calls)
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)

		var total, protocolErrors, toolErrors int
		var examples []string
		want := slices.Clone(before)
		for _, r := range results {
			total += r.calls
			protocolErrors += r.protocolErrors
			toolErrors += r.toolErrors
			if len(examples) < 10 {
				examples = append(examples, r.examples...)
			}
			want = append(want, r.live...)
		}
		t.Logf("%d sessions × %d calls: %d calls in %s (%.0f calls/s), %d protocol errors, %d tool errors",
			sessions, calls, total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), protocolErrors, toolErrors)
		assert.Zero(t, protocolErrors, "protocol errors; first ones:\n%s", strings.Join(examples, "\n"))
		assert.Zero(t, toolErrors, "unexpected tool errors; first ones:\n%s", strings.Join(examples, "\n"))
		require.Equal(t, sessions*calls, total, "every call was made")
		if t.Failed() {
			t.Logf("server stderr (tail):\n%s", loadTail(stderr.String(), 4000))
		}

		// The sandbox holds exactly the keys the calls left: the seed, plus what each session
		// created and did not delete. Nothing was created twice, nothing deleted by mistake.
		got := env.sb.State().APIKeys
		sortAPIKeys(want)
		sortAPIKeys(got)
		assert.Equal(t, want, got, "the sandbox's final keys match the calls made")
		creates := 0
		for _, r := range results {
			creates += len(r.live)
		}
		assert.Equal(t, loadCreates(sessions, calls), env.sb.Requests(http.MethodPost, "/api-key"), "one POST per create call")
		assert.Equal(t, loadCreates(sessions, calls)-creates, env.sb.Requests(http.MethodDelete, "/api-key/*"), "one DELETE per delete call")
	})
	goleak.VerifyNone(t, ignore)
}

// loadOp is what call i of a session does: the mix is create, list, get, delete, with a create
// whenever the session holds no key to get or delete.
func loadOp(i, live int) string {
	switch {
	case i%4 == 0 || live == 0:
		return "create-api-key"
	case i%4 == 1:
		return "list-api-keys"
	case i%4 == 2:
		return "get-api-key"
	default:
		return "delete-api-key"
	}
}

// loadCreates is how many creates a session's call sequence makes in total, over all sessions.
func loadCreates(sessions, calls int) int {
	n, live := 0, 0
	for i := range calls {
		switch loadOp(i, live) {
		case "create-api-key":
			n++
			live++
		case "delete-api-key":
			live--
		}
	}
	return n * sessions
}

// runLoadSession connects one client session and makes its calls. It never fails the test
// itself (it runs on its own goroutine): it reports what went wrong.
func runLoadSession(url string, hc *http.Client, id, calls int) *loadSession {
	r := &loadSession{}
	fail := func(count *int, format string, args ...any) {
		*count++
		if len(r.examples) < 3 {
			r.examples = append(r.examples, fmt.Sprintf("session %d: ", id)+fmt.Sprintf(format, args...))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := sdk.NewClient(&sdk.Implementation{Name: fmt.Sprintf("load-%d", id), Version: "1"}, nil)
	var opts *sdk.ClientSessionOptions
	if v := loadProtocols[id%len(loadProtocols)]; v != "" {
		opts = &sdk.ClientSessionOptions{ProtocolVersion: v}
	}
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, opts)
	if err != nil {
		fail(&r.protocolErrors, "connect: %v", err)
		return r
	}
	defer cs.Close()

	for i := range calls {
		tool := loadOp(i, len(r.live))
		var args map[string]any
		switch tool {
		case "create-api-key":
			args = map[string]any{"name": fmt.Sprintf("load-%03d-%03d", id, i), "role-id": sandbox.AdminRoleID}
		case "get-api-key":
			args = map[string]any{"id": r.live[len(r.live)-1].Key}
		case "delete-api-key":
			args = map[string]any{"id": r.live[0].Key}
		}
		r.calls++
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			fail(&r.protocolErrors, "call %d %s: %v", i, tool, err)
			continue
		}
		if res.IsError {
			fail(&r.toolErrors, "call %d %s: %s", i, tool, text(res))
			continue
		}
		out, _ := res.StructuredContent.(map[string]any)
		switch tool {
		case "create-api-key":
			key := sandbox.APIKey{Key: str(out, "key"), Name: args["name"].(string), RoleID: sandbox.AdminRoleID}
			if key.Key == "" || str(out, "name") != key.Name {
				fail(&r.toolErrors, "call %d create: unexpected answer %v", i, out)
				continue
			}
			r.live = append(r.live, key)
		case "list-api-keys":
			listed := map[string]string{}
			items, _ := out["api-keys"].([]any)
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					listed[str(m, "key")] = str(m, "name")
				}
			}
			for _, k := range r.live {
				if listed[k.Key] != k.Name {
					fail(&r.toolErrors, "call %d list: own key %s (%s) missing", i, k.Key, k.Name)
				}
			}
		case "get-api-key":
			if want := r.live[len(r.live)-1]; str(out, "key") != want.Key || str(out, "name") != want.Name {
				fail(&r.toolErrors, "call %d get: got %v, want %v", i, out, want)
			}
		case "delete-api-key":
			if str(out, "state") != "success" {
				fail(&r.toolErrors, "call %d delete: operation %v", i, out)
				continue
			}
			r.live = r.live[1:]
		}
	}
	return r
}

func sortAPIKeys(keys []sandbox.APIKey) {
	sort.Slice(keys, func(i, j int) bool { return keys[i].Key < keys[j].Key })
}

func loadTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
