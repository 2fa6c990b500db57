package multireplica

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// haproxyCfg is the shipped config: the tests run the file that is deployed.
func haproxyCfg(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "haproxy.cfg")
	_, err := os.Stat(path)
	require.NoError(t, err)
	return path
}

func needHAProxy(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			// CI installs it (.ci/run): a skip there would hide a missing install step.
			t.Fatal("haproxy not installed, and CI is set: .ci/run must apt-get install -y haproxy")
		}
		t.Skip("haproxy not installed (apt-get install -y haproxy): skipping the tests that run it")
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on now. Only for HAProxy and the
// replicas behind it: HAProxy's backends are named in its config before they start, and HAProxy
// cannot report the port it bound.
//
// The port is taken below the kernel's ephemeral range: a port handed out by a listen on port 0
// (as every other test server's is) and closed again can be handed to another test's listener
// at once, and HAProxy would then bind a port that is not free or its client would reach that
// other server. No listen on port 0 is ever given a port below the range.
func freeAddr(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				low = n
			}
		}
	}
	for range 100 {
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken: another try
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range after 100 tries")
	return ""
}

// syncBuffer collects a process's output for the failure message.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startHAProxy runs deploy/haproxy.cfg in front of replicas (three addresses) and returns the
// address clients use. It stops HAProxy when the test ends.
func startHAProxy(t *testing.T, replicas []string) string {
	t.Helper()
	bin := needHAProxy(t)
	require.Len(t, replicas, 3)
	bind := freeAddr(t)
	cmd := exec.Command(bin, "-db", "-f", haproxyCfg(t))
	cmd.Env = append(os.Environ(), "MCP_BIND="+bind,
		"REPLICA1="+replicas[0], "REPLICA2="+replicas[1], "REPLICA3="+replicas[2])
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", bind, time.Second)
		if err == nil {
			c.Close()
			return bind
		}
		select {
		case <-exited:
			t.Fatalf("haproxy exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not listen on %s within 10 s: %s", bind, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHAProxyConfig_Valid(t *testing.T) {
	t.Parallel()
	bin := needHAProxy(t)
	for name, env := range map[string][]string{
		"machine":    nil,
		"kubernetes": {"MCP_DNS_NAME=exoscale-keys-mcp-replicas.default.svc.cluster.local", "MCP_BIND=0.0.0.0:8080", "HAPROXY_STATS=127.0.0.1:8404"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "-c", "-f", haproxyCfg(t))
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "Configuration file is valid")
		})
	}
}

// TestHAProxy_StickySessionsLearntFromResponse runs the shipped haproxy.cfg in front of three
// stand-in replicas that, like the server, mint an Mcp-Session-Id on a request that has none and
// answer 404 to a session they do not know. Every session's later requests must reach the
// replica that created it, and sessionless requests must reach all three.
func TestHAProxy_StickySessionsLearntFromResponse(t *testing.T) {
	t.Parallel()
	needHAProxy(t)
	type replica struct {
		srv      *httptest.Server
		sessions sync.Map
		served   atomic.Int64
	}
	var reps [3]*replica
	var minted atomic.Int64
	var addrs []string
	for i := range reps {
		r := &replica{}
		r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/healthz" {
				return
			}
			io.Copy(io.Discard, req.Body)
			r.served.Add(1)
			id := req.Header.Get("Mcp-Session-Id")
			switch {
			case id == "" && req.Header.Get("X-Initialize") != "":
				id = fmt.Sprintf("mcp-session-%d-%d", i, minted.Add(1))
				r.sessions.Store(id, true)
				w.Header().Set("Mcp-Session-Id", id)
			case id == "":
				// sessionless: any replica serves it
			default:
				if _, ok := r.sessions.Load(id); !ok {
					http.Error(w, "unknown session", http.StatusNotFound)
					return
				}
			}
			fmt.Fprintf(w, "%d", i)
		}))
		t.Cleanup(r.srv.Close)
		reps[i] = r
		addrs = append(addrs, strings.TrimPrefix(r.srv.URL, "http://"))
	}
	url := "http://" + startHAProxy(t, addrs) + "/mcp"

	post := func(hdr map[string]string) (int, string, http.Header) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}

	const sessions, followUps = 15, 5
	for s := range sessions {
		code, first, hdr := post(map[string]string{"X-Initialize": "1"})
		require.Equal(t, 200, code)
		id := hdr.Get("Mcp-Session-Id")
		require.NotEmpty(t, id)
		for f := range followUps {
			code, got, _ := post(map[string]string{"Mcp-Session-Id": id})
			require.Equal(t, 200, code, "session %d request %d reached a replica that does not know it", s, f+2)
			assert.Equal(t, first, got, "session %d request %d", s, f+2)
		}
	}
	before := [3]int64{}
	for i, r := range reps {
		before[i] = r.served.Load()
	}
	for range 30 {
		code, _, _ := post(nil)
		require.Equal(t, 200, code)
	}
	for i, r := range reps {
		n := r.served.Load() - before[i]
		t.Logf("replica %d: %d of 30 sessionless requests", i+1, n)
		assert.Positive(t, n, "round robin reaches replica %d", i+1)
	}
}
