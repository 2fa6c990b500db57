package multireplica

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/internal/coord"
	"github.com/exokeys/exoscale-keys-mcp/internal/redistest"
)

// The sandbox's seeded admin role (sandbox.AdminRoleID); copied, not imported, because the
// test drives the binary and its sandbox command from outside.
const adminRoleID = "58540a31-f166-4b7c-b91e-5d30553d1d4e"

// Per-credential limit of the replicas: the test measures that it holds across them.
const (
	credentialRate  = 25
	credentialBurst = 50
)

// TestMultiReplica is the multi-replica test of issue 13: a real redis-server, the standalone
// sandbox as the one upstream, three replicas sharing Redis, and HAProxy with deploy/haproxy.cfg
// in front, all on 127.0.0.1. It needs the redis-server and haproxy binaries and MULTIREPLICA=1.
func TestMultiReplica(t *testing.T) {
	if os.Getenv("MULTIREPLICA") != "1" {
		t.Skip("the multi-replica test runs with MULTIREPLICA=1 (it starts redis-server, haproxy, a sandbox and 3 replicas)")
	}
	start := time.Now()
	h := newCluster(t)
	t.Run("OneKeyFrom30ConcurrentCreates", h.oneKeyFromConcurrentCreates)
	t.Run("CredentialLimitHoldsAcrossReplicas", h.credentialLimitAcrossReplicas)
	t.Run("ConfirmationAskedOnOneAnsweredOnAnother", h.confirmationAcrossReplicas)
	t.Run("ReplicaKilledMidLoad", h.replicaKilledMidLoad)
	t.Run("RedisStoppedMidRun", h.redisStoppedMidRun)
	t.Run("GracefulShutdownBehindHAProxy", h.gracefulShutdown)
	t.Logf("multi-replica test: %v in all", time.Since(start).Round(time.Millisecond))
}

// cluster is what TestMultiReplica started.
type cluster struct {
	bin      string
	redis    *redistest.Server
	key      string // the sandbox's credential, sent per request (--credentials-from-headers)
	secret   string
	replicas []*replica
	proxy    string // http://127.0.0.1:port/mcp
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	needHAProxy(t)
	dir := t.TempDir()
	c := &cluster{bin: buildBinary(t, dir)}
	checkWired(t, c.bin)
	c.redis = redistest.Start(t)

	upstream := startSandbox(t, c.bin, dir)
	c.key, c.secret = upstream["EXOSCALE_API_KEY"], upstream["EXOSCALE_API_SECRET"]
	require.NotEmpty(t, c.key, "the sandbox command prints export EXOSCALE_API_KEY=…")
	require.NotEmpty(t, c.secret, "the sandbox command prints export EXOSCALE_API_SECRET=…")

	stateKey := filepath.Join(dir, "state.key")
	raw := make([]byte, 48)
	rand.Read(raw)
	require.NoError(t, os.WriteFile(stateKey, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600))

	// Replicas get the upstream's address, never its credential: clients send theirs.
	env := []string{"HOME=" + dir, "XDG_STATE_HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	for k, v := range upstream {
		if k != "EXOSCALE_API_KEY" && k != "EXOSCALE_API_SECRET" {
			env = append(env, k+"="+v)
		}
	}
	var addrs []string
	for i := range 3 {
		r := &replica{name: fmt.Sprintf("replica%d", i+1), bin: c.bin, addr: freeAddr(t), metrics: freeAddr(t), env: env}
		r.args = []string{"http", "--listen", r.addr,
			"--redis-url", c.redis.URL(), "--state-key-file", stateKey, "--replicas", "3",
			"--metrics-listen", r.metrics,
			"--credentials-from-headers", "--secret-delivery", "inline", "--confirm", "destructive",
			"--session-rate", strconv.Itoa(credentialRate), "--session-burst", strconv.Itoa(credentialBurst),
			"--poll-interval", "5ms"}
		r.start(t)
		t.Cleanup(func() { r.kill() })
		c.replicas = append(c.replicas, r)
		addrs = append(addrs, r.addr)
	}
	c.proxy = "http://" + startHAProxy(t, addrs) + "/mcp"
	return c
}

// buildBinary builds the server once for this test.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, "exoscale-keys-mcp")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// checkWired fails, saying what is missing, while main does not yet have the parts of issue 13
// this test drives.
func checkWired(t *testing.T, bin string) {
	t.Helper()
	help, _ := exec.Command(bin, "http", "--help").CombinedOutput()
	var missing []string
	for _, flag := range []string{"--redis-url", "--state-key-file", "--replicas", "--metrics-listen"} {
		if !strings.Contains(string(help), strings.TrimPrefix(flag, "-")) {
			missing = append(missing, "http "+flag)
		}
	}
	sb, err := exec.Command(bin, "sandbox", "--help").CombinedOutput()
	if err != nil && !strings.Contains(string(sb), "-listen") {
		missing = append(missing, "the sandbox command")
	}
	if len(missing) > 0 {
		t.Fatalf("not wired yet: the binary lacks %s. internal/coord and internal/metrics are ready; main must wire them (issue 13) before this test can run", strings.Join(missing, ", "))
	}
}

// startSandbox runs the standalone sandbox and returns the variables it prints as export lines.
func startSandbox(t *testing.T, bin, dir string) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, "sandbox", "--listen", "127.0.0.1:0", "--state", filepath.Join(dir, "sandbox-state.json"))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	exportLine := regexp.MustCompile(`^export ([A-Z_]+)=(.*)$`)
	vars := map[string]string{}
	got := make(chan struct{})
	go func() {
		defer close(got)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := exportLine.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
				v := m[2]
				if uq, err := strconv.Unquote(v); err == nil {
					v = uq
				} else {
					v = strings.Trim(v, "'")
				}
				vars[m[1]] = v
				if vars["EXOSCALE_API_KEY"] != "" && vars["EXOSCALE_API_SECRET"] != "" && vars["EXOSCALE_API_ENDPOINT"] != "" {
					go io.Copy(io.Discard, stdout)
					return
				}
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatalf("the sandbox printed no export lines within 20 s: %s", stderr.String())
	}
	return vars
}

// replica is one `exoscale-keys-mcp http` process.
type replica struct {
	name, bin     string
	addr, metrics string
	args, env     []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *syncBuffer
}

func (r *replica) start(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	cmd := exec.Command(r.bin, r.args...)
	cmd.Env = r.env
	r.out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + r.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", r.name, r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy within 20 s: %s", r.name, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the replica at once, as a crash would.
func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// term sends SIGTERM and waits up to 10 s; it returns the exit code (-1 when it had to kill)
// and how long the replica took.
func (r *replica) term() (int, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return -1, 0
	}
	start := time.Now()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
		r.cmd = nil
		return -1, time.Since(start)
	}
	code := r.cmd.ProcessState.ExitCode()
	r.cmd = nil
	return code, time.Since(start)
}

// toolCalls reads exoscale_keys_mcp_tool_calls_total for tool from the replica's /metrics.
func (r *replica) toolCalls(t *testing.T, tool string) int {
	t.Helper()
	resp, err := http.Get("http://" + r.metrics + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0
	re := regexp.MustCompile(`(?m)^exoscale_keys_mcp_tool_calls_total\{[^}]*tool="` + regexp.QuoteMeta(tool) + `"[^}]*\} (\d+)`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	return total
}

// headers adds the tenant's credential to every request. With retry429 it also does what a
// well-behaved client does when the per-credential limit (25/s here, for the scenario that
// measures it) refuses a request: wait out Retry-After and send it again, a bounded number of
// times. Every scenario but the one that counts the refusals uses it, as they all spend the
// same credential's budget.
type headers struct {
	key, secret string
	base        http.RoundTripper
	retry429    bool
}

func (h headers) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		r := req.Clone(req.Context())
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
		r.Header.Set("X-Exoscale-Api-Key", h.key)
		r.Header.Set("X-Exoscale-Api-Secret", h.secret)
		resp, err := h.base.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || !h.retry429 || attempt >= 20 || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		wait := 250 * time.Millisecond
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = min(time.Duration(s)*time.Second, 2*time.Second)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
	}
}

// dial connects a sessionless (2026-07-28) client to url with the given credential. With
// manualInput the client returns input-required results instead of answering them.
func dial(t *testing.T, url, key, secret string, manualInput bool) *sdk.ClientSession {
	t.Helper()
	return dialWith(t, url, headers{key: key, secret: secret, base: &http.Transport{MaxIdleConnsPerHost: 16}, retry429: true}, manualInput)
}

// dialWith is dial through the given transport.
func dialWith(t *testing.T, url string, rt headers, manualInput bool) *sdk.ClientSession {
	t.Helper()
	opts := &sdk.ClientOptions{
		ElicitationHandler: func(context.Context, *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
		},
	}
	if manualInput {
		opts.MultiRoundTrip = &sdk.MultiRoundTripOptions{Disabled: true}
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "multireplica-test", Version: "1"}, opts)
	hc := &http.Client{Transport: rt, Timeout: 60 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, nil)
	require.NoError(t, err, "connect to %s", url)
	t.Cleanup(func() { cs.Close() })
	return cs
}

func call(cs *sdk.ClientSession, name string, args map[string]any) (*sdk.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
}

func text(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// decode returns a result's structured content, or its text parsed as JSON.
func decode(t *testing.T, res *sdk.CallToolResult) map[string]any {
	t.Helper()
	var m map[string]any
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if json.Unmarshal(b, &m) == nil {
			return m
		}
	}
	require.NoError(t, json.Unmarshal([]byte(text(res)), &m), "result is not JSON: %s", text(res))
	return m
}

// keysNamed lists the IAM keys called name.
func (c *cluster) keysNamed(t *testing.T, cs *sdk.ClientSession, name string) []string {
	t.Helper()
	res, err := call(cs, "list-api-keys", map[string]any{})
	require.NoError(t, err)
	require.False(t, res.IsError, text(res))
	var ids []string
	items, _ := decode(t, res)["api-keys"].([]any)
	for _, it := range items {
		if m, _ := it.(map[string]any); m != nil && m["name"] == name {
			ids = append(ids, fmt.Sprint(m["key"]))
		}
	}
	return ids
}

// oneKeyFromConcurrentCreates: 30 creates of one name through HAProxy (round robin over the
// replicas) mint one key; the 29 others are refused with its id.
func (c *cluster) oneKeyFromConcurrentCreates(t *testing.T) {
	var clients []*sdk.ClientSession
	for range 3 {
		clients = append(clients, dial(t, c.proxy, c.key, c.secret, false))
	}
	before := make([]int, 3)
	for i, r := range c.replicas {
		before[i] = r.toolCalls(t, "create-api-key")
	}
	const name = "mr-concurrent"
	var created, refused atomic.Int32
	var mu sync.Mutex
	var refusals []string
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			res, err := call(clients[i%3], "create-api-key", map[string]any{"name": name, "role-id": adminRoleID})
			if !assert.NoError(t, err) {
				return
			}
			if res.IsError {
				refused.Add(1)
				mu.Lock()
				refusals = append(refusals, text(res))
				mu.Unlock()
				return
			}
			created.Add(1)
		})
	}
	wg.Wait()
	ids := c.keysNamed(t, clients[0], name)
	require.Len(t, ids, 1, "exactly one key exists")
	assert.EqualValues(t, 1, created.Load())
	assert.EqualValues(t, 29, refused.Load())
	for _, r := range refusals {
		assert.Contains(t, r, ids[0], "a refusal names the key that exists")
	}
	for i, r := range c.replicas {
		n := r.toolCalls(t, "create-api-key") - before[i]
		t.Logf("%s served %d of the 30 creates", r.name, n)
		assert.Positive(t, n, "the creates were spread over the replicas")
	}
}

// newCredential creates an IAM key (admin role) and returns its key and secret (inline delivery).
func (c *cluster) newCredential(t *testing.T, cs *sdk.ClientSession, name string) (string, string) {
	t.Helper()
	res, err := call(cs, "create-api-key", map[string]any{"name": name, "role-id": adminRoleID})
	require.NoError(t, err)
	require.False(t, res.IsError, text(res))
	m := decode(t, res)
	key, _ := m["key"].(string)
	secret, _ := m["secret"].(string)
	require.NotEmpty(t, key, "create-api-key result: key")
	require.NotEmpty(t, secret, "create-api-key result with --secret-delivery inline: secret")
	return key, secret
}

// credentialLimitAcrossReplicas: one credential's requests, spread over the replicas, are
// granted at most burst + rate × elapsed in total.
func (c *cluster) credentialLimitAcrossReplicas(t *testing.T) {
	key, secret := c.newCredential(t, dial(t, c.proxy, c.key, c.secret, false), "mr-rate")
	cs := dialWith(t, c.proxy, headers{key: key, secret: secret, base: &http.Transport{MaxIdleConnsPerHost: 16}}, false)
	var granted, limited atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 150 { // bounded: 450 calls in all
				res, err := call(cs, "list-zones", map[string]any{})
				switch {
				case err == nil && !res.IsError:
					granted.Add(1)
				case err != nil && (strings.Contains(err.Error(), "429") || strings.Contains(strings.ToLower(err.Error()), "too many")):
					limited.Add(1)
				case err != nil:
					t.Errorf("list-zones: %v", err)
					return
				default:
					t.Errorf("list-zones: %s", text(res))
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	most := credentialBurst + int64(credentialRate*elapsed.Seconds()) + 1
	t.Logf("one credential over 3 replicas: %d granted, %d refused (429) in %v; the limit allows at most %d (burst %d + %d/s)",
		granted.Load(), limited.Load(), elapsed.Round(time.Millisecond), most, credentialBurst, credentialRate)
	assert.GreaterOrEqual(t, granted.Load(), int64(credentialBurst))
	assert.LessOrEqual(t, granted.Load(), most, "the replicas share one budget per credential")
}

// confirmationAcrossReplicas: a destructive call asked on replica 1 and answered on replica 2
// completes; the same answer replayed on replica 3 does not count again.
func (c *cluster) confirmationAcrossReplicas(t *testing.T) {
	viaProxy := dial(t, c.proxy, c.key, c.secret, false)
	key, _ := c.newCredential(t, viaProxy, "mr-confirm")
	var direct []*sdk.ClientSession
	for _, r := range c.replicas {
		direct = append(direct, dial(t, "http://"+r.addr+"/mcp", c.key, c.secret, true))
	}
	args := map[string]any{"id": key}
	asked, err := call(direct[0], "delete-api-key", args)
	require.NoError(t, err)
	require.True(t, asked.NeedsInput(), "replica1 asks for a confirmation: %s", text(asked))
	require.NotEmpty(t, asked.RequestState, "the question carries sealed request state")
	answers := sdk.InputResponseMap{}
	for id := range asked.InputRequests {
		answers[id] = &sdk.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}
	}
	require.NotEmpty(t, answers)
	answer := func(cs *sdk.ClientSession) *sdk.CallToolResult {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "delete-api-key", Arguments: args, InputResponses: answers, RequestState: asked.RequestState})
		require.NoError(t, err)
		return res
	}
	done := answer(direct[1])
	require.False(t, done.NeedsInput(), "replica2 honours replica1's question: %s", text(done))
	require.False(t, done.IsError, text(done))
	assert.Empty(t, c.keysNamed(t, viaProxy, "mr-confirm"), "the key is deleted")

	replay := answer(direct[2])
	assert.True(t, replay.NeedsInput(), "the same answer on replica3 is not honoured again; it asks anew: %s", text(replay))
}

// replicaKilledMidLoad: sessionless clients that retry see every call served while replica 2
// is killed under load, and no create is applied twice.
func (c *cluster) replicaKilledMidLoad(t *testing.T) {
	cs := dial(t, c.proxy, c.key, c.secret, false)
	const workers, perWorker = 3, 15
	var done, retries atomic.Int32
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				name := fmt.Sprintf("mr-load-%d-%d", w, i)
				tool, args := "create-api-key", map[string]any{"name": name, "role-id": adminRoleID}
				if i%3 == 2 {
					tool, args = "list-api-keys", map[string]any{}
				}
				served := false
				for attempt := range 6 { // bounded retries, as a client would
					res, err := call(cs, tool, args)
					if err == nil && (!res.IsError || strings.Contains(text(res), "already taken by")) {
						served = true
						break
					}
					if attempt > 0 || err != nil {
						retries.Add(1)
					}
					time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
				}
				assert.True(t, served, "%s %s was served by a remaining replica", tool, name)
				if done.Add(1) == workers*perWorker/3 {
					once.Do(func() { c.replicas[1].kill(); close(killed) })
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the load ended before replica2 was killed")
	}
	t.Logf("%d calls, %d retries after replica2 was killed", done.Load(), retries.Load())
	for w := range workers {
		for i := range perWorker {
			if i%3 == 2 {
				continue
			}
			name := fmt.Sprintf("mr-load-%d-%d", w, i)
			assert.Len(t, c.keysNamed(t, cs, name), 1, "%s created once", name)
		}
	}
	c.replicas[1].start(t) // back for the next scenarios
}

// redisStoppedMidRun: without Redis, reads are served and creates refused with the clear
// error; once Redis is back, creates work again without restarting anything.
func (c *cluster) redisStoppedMidRun(t *testing.T) {
	cs := dial(t, c.proxy, c.key, c.secret, false)
	c.redis.Stop()
	for i := range 6 { // round robin: every replica twice
		res, err := call(cs, "list-api-keys", map[string]any{})
		require.NoError(t, err, "read %d without redis", i)
		assert.False(t, res.IsError, "reads are served without Redis: %s", text(res))
	}
	for i := range 3 {
		res, err := call(cs, "create-api-key", map[string]any{"name": "mr-redis-down", "role-id": adminRoleID})
		require.NoError(t, err)
		assert.True(t, res.IsError, "create %d without redis is refused", i)
		assert.Contains(t, text(res), coord.ErrUnavailable.Error(), "create %d", i)
	}
	c.redis.Start()
	back := time.Now()
	require.Eventually(t, func() bool {
		res, err := call(cs, "create-api-key", map[string]any{"name": "mr-redis-back", "role-id": adminRoleID})
		return err == nil && (!res.IsError || strings.Contains(text(res), "already taken by"))
	}, 30*time.Second, 100*time.Millisecond, "creates work again once Redis is back")
	t.Logf("creates served again %v after redis-server restarted", time.Since(back).Round(time.Millisecond))
	assert.Empty(t, c.keysNamed(t, cs, "mr-redis-down"), "nothing was created while Redis was down")
	assert.Len(t, c.keysNamed(t, cs, "mr-redis-back"), 1)
}

// gracefulShutdown: with a 2025-11-25 session's stream open through HAProxy, SIGTERM ends each
// replica with exit 0.
func (c *cluster) gracefulShutdown(t *testing.T) {
	client := sdk.NewClient(&sdk.Implementation{Name: "multireplica-test", Version: "1"}, nil)
	hc := &http.Client{Transport: headers{key: c.key, secret: c.secret, base: http.DefaultTransport, retry429: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: c.proxy, HTTPClient: hc, MaxRetries: -1}, &sdk.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	require.NoError(t, err)
	defer cs.Close()
	res, err := call(cs, "list-api-keys", map[string]any{})
	require.NoError(t, err)
	require.False(t, res.IsError)
	for _, r := range c.replicas {
		code, took := r.term()
		t.Logf("%s: exit %d after SIGTERM in %v", r.name, code, took.Round(time.Millisecond))
		assert.Equal(t, 0, code, "%s exits 0 on SIGTERM with streams open: %s", r.name, r.out.String())
	}
}
