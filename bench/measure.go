package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// toolCall is one tools/call: a tool and its arguments (a JSON object).
type toolCall struct {
	Name string `json:"name"`
	Args string `json:"arguments"`
}

// readMix is what every HTTP session cycles through: the read tools, each session starting at a
// different one, so all of them are in flight at once.
func readMix(sb *sandboxProc) []toolCall {
	id := func(s string) string { return `{"id":"` + s + `"}` }
	return []toolCall{
		{"list-api-keys", `{}`},
		{"get-api-key", id(sb.info.Key)},
		{"list-iam-roles", `{}`},
		{"get-iam-role", id(sandbox.AdminRoleID)},
		{"list-deployments", `{}`},
		{"get-deployment", id(sandbox.PublicDeploymentID)},
		{"list-ai-api-keys", `{}`},
		{"get-ai-api-key", id(sandbox.SeedAIKeyID)},
		{"get-iam-organization-policy", `{}`},
		{"list-zones", `{}`},
	}
}

// echoMix is the baseline's only call.
func echoMix(*sandboxProc) []toolCall { return []toolCall{{"echo", `{"text":"hello"}`}} }

func callParams(c toolCall) string {
	return `{"name":"` + c.Name + `","arguments":` + c.Args + `}`
}

// ---- 4. tools/list and model-visible tokens ----

type toolTokens struct {
	Name   string  `json:"name"`
	Bytes  int     `json:"bytes"`
	Tokens float64 `json:"tokens"`
}

type toolsListFigures struct {
	OursBytes     int          `json:"ours_bytes"`
	BaselineBytes int          `json:"baseline_bytes"`
	Tools         int          `json:"tools"`
	TotalTokens   float64      `json:"total_tokens"`
	MeanTokens    float64      `json:"mean_tokens_per_tool"`
	MaxTokens     float64      `json:"max_tokens_per_tool"`
	MaxTool       string       `json:"max_tool"`
	PerTool       []toolTokens `json:"per_tool"`
}

// measureToolsList fetches both tools/list responses. Model-visible tokens are estimated as
// bytes/4 of what a client shows the model for each tool: its name, its description and its
// input schema as sent (compact JSON). Titles, annotations and output schemas are left out.
func measureToolsList(ours, base server) (toolsListFigures, error) {
	var f toolsListFigures
	list := func(s server) ([]byte, error) {
		c, err := s.stdio()
		if err != nil {
			return nil, err
		}
		defer c.close()
		if err := c.initialize(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		line, err := c.call("tools/list", "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		return line, checkReply(line)
	}
	line, err := list(ours)
	if err != nil {
		return f, err
	}
	f.OursBytes = len(line)
	var r struct {
		Result struct {
			Tools []struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				InputSchema json.RawMessage `json:"inputSchema"`
			} `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return f, fmt.Errorf("ours: tools/list: %w", err)
	}
	for _, t := range r.Result.Tools {
		n := len(t.Name) + len(t.Description) + len(t.InputSchema)
		tok := round(float64(n) / 4)
		f.PerTool = append(f.PerTool, toolTokens{Name: t.Name, Bytes: n, Tokens: tok})
		f.TotalTokens += tok
		if tok > f.MaxTokens {
			f.MaxTokens, f.MaxTool = tok, t.Name
		}
	}
	f.Tools = len(f.PerTool)
	if f.Tools > 0 {
		f.MeanTokens = round(f.TotalTokens / float64(f.Tools))
	}
	f.TotalTokens = round(f.TotalTokens)
	slices.SortFunc(f.PerTool, func(a, b toolTokens) int { return b.Bytes - a.Bytes })
	if line, err = list(base); err != nil {
		return f, err
	}
	f.BaselineBytes = len(line)
	return f, nil
}

// ---- 1. cold start ----

type coldStartFigures struct {
	Runs           int     `json:"runs"`
	OursMs         span    `json:"ours_ms"`
	BaselineMs     span    `json:"baseline_ms"`
	Ratio          span    `json:"ratio"`
	OursPeakRSSMiB span    `json:"ours_peak_rss_mib"`
	BasePeakRSSMiB span    `json:"baseline_peak_rss_mib"`
	OtherCores     float64 `json:"other_processes_cpu_cores"`
}

// coldStart times exec → initialize answered → notifications/initialized → tools/list answered,
// then closes stdin and reads the exited process's peak RSS.
func coldStart(s server) (time.Duration, int64, error) {
	t0 := time.Now()
	c, err := s.stdio()
	if err != nil {
		return 0, 0, err
	}
	if err := c.initialize(); err != nil {
		c.close()
		return 0, 0, fmt.Errorf("%s: %w", s.name, err)
	}
	if _, err := c.call("tools/list", ""); err != nil {
		c.close()
		return 0, 0, fmt.Errorf("%s: %w", s.name, err)
	}
	d := time.Since(t0)
	if err := c.close(); err != nil {
		return 0, 0, fmt.Errorf("%s exited: %w", s.name, err)
	}
	return d, maxRSS(c.cmd), nil
}

func measureColdStart(cfg settings, ours, base server, sbPid int) (f coldStartFigures, err error) {
	f = coldStartFigures{Runs: cfg.ColdRuns}
	var o, b, orss, brss []float64
	defer func(s0 cpuSnap) { f.OtherCores = otherCores(s0, snapCPU(sbPid)) }(snapCPU(sbPid))
	// One unmeasured start of each first, so both run from the page cache.
	for _, s := range []server{ours, base} {
		if _, _, err := coldStart(s); err != nil {
			return f, err
		}
	}
	for i := range cfg.ColdRuns {
		// Alternate which goes first so neither always runs on the warmer machine.
		order := []server{ours, base}
		if i%2 == 1 {
			order = []server{base, ours}
		}
		for _, s := range order {
			d, rss, err := coldStart(s)
			if err != nil {
				return f, err
			}
			if s.name == ours.name {
				o, orss = append(o, ms(d)), append(orss, mib(rss))
			} else {
				b, brss = append(b, ms(d)), append(brss, mib(rss))
			}
		}
	}
	f.OursMs, f.BaselineMs, f.Ratio = spanOf(o), spanOf(b), spanOf(ratios(o, b))
	f.OursPeakRSSMiB, f.BasePeakRSSMiB = spanOf(orss), spanOf(brss)
	return f, nil
}

// ---- 4. idle RSS ----

type idleFigures struct {
	Runs           int     `json:"runs"`
	SettleMs       float64 `json:"settle_ms"`
	OursRSSMiB     span    `json:"ours_rss_mib"`
	BaselineRSSMiB span    `json:"baseline_rss_mib"`
	OtherCores     float64 `json:"other_processes_cpu_cores"`
}

// measureIdle reads VmRSS of a stdio server that has answered initialize and then sat idle.
func measureIdle(cfg settings, ours, base server, sbPid int) (f idleFigures, err error) {
	f = idleFigures{Runs: cfg.IdleRuns, SettleMs: ms(cfg.IdleSettle)}
	defer func(s0 cpuSnap) { f.OtherCores = otherCores(s0, snapCPU(sbPid)) }(snapCPU(sbPid))
	var o, b []float64
	for range cfg.IdleRuns {
		for _, s := range []server{ours, base} {
			c, err := s.stdio()
			if err != nil {
				return f, err
			}
			if err := c.initialize(); err != nil {
				c.close()
				return f, fmt.Errorf("%s: %w", s.name, err)
			}
			time.Sleep(cfg.IdleSettle)
			rss, _, err := memStatus(c.cmd.Process.Pid)
			c.close()
			if err != nil {
				return f, err
			}
			if s.name == ours.name {
				o = append(o, mib(rss))
			} else {
				b = append(b, mib(rss))
			}
		}
	}
	f.OursRSSMiB, f.BaselineRSSMiB = spanOf(o), spanOf(b)
	return f, nil
}

// ---- 2. per call over stdio ----

type latency struct {
	P50us span `json:"p50_us"`
	P99us span `json:"p99_us"`
}

type stdioCallFigures struct {
	Rounds         int     `json:"rounds"`
	CallsPerRound  int     `json:"calls_per_round"`
	Ours           latency `json:"ours_get_api_key"`
	Direct         latency `json:"direct_signed_get"`
	Baseline       latency `json:"baseline_echo"`
	RatioP50       span    `json:"ratio_p50_ours_to_baseline"`
	RatioP99       span    `json:"ratio_p99_ours_to_baseline"`
	AddedP50us     span    `json:"added_p50_us_ours_minus_direct"`
	AddedP99us     span    `json:"added_p99_us_ours_minus_direct"`
	OursPeakRSSMiB float64 `json:"ours_peak_rss_mib"`
	BasePeakRSSMiB float64 `json:"baseline_peak_rss_mib"`
	OtherCores     span    `json:"other_processes_cpu_cores"`
}

// timeCalls runs n calls one after another and returns their sorted durations (warm-up).
func timeCalls(n int, call func() error) ([]time.Duration, error) {
	d := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		if err := call(); err != nil {
			return nil, err
		}
		d = append(d, time.Since(t))
	}
	slices.Sort(d)
	return d, nil
}

func measureStdioCalls(cfg settings, ours, base server, sb *sandboxProc) (stdioCallFigures, error) {
	f := stdioCallFigures{Rounds: cfg.CallRounds, CallsPerRound: cfg.CallsPerRound}
	oc, err := ours.stdio()
	if err != nil {
		return f, err
	}
	defer oc.close()
	bc, err := base.stdio()
	if err != nil {
		return f, err
	}
	defer bc.close()
	for _, c := range []*stdioConn{oc, bc} {
		if err := c.initialize(); err != nil {
			return f, err
		}
	}
	client, err := apiclient.New(apiclient.Config{
		Endpoint:    sb.info.URL,
		Credentials: apiclient.Credentials{Key: sb.info.Key, Secret: sb.info.Secret},
		UserAgent:   "exokeys-bench",
	})
	if err != nil {
		return f, err
	}
	oursParams := callParams(toolCall{"get-api-key", `{"id":"` + sb.info.Key + `"}`})
	baseParams := callParams(echoMix(nil)[0])
	kinds := []struct {
		name string
		call func() error
		p50  *[]float64
		p99  *[]float64
	}{
		{name: "ours", call: func() error {
			line, err := oc.call("tools/call", oursParams)
			if err == nil {
				err = quickCheck(line)
			}
			return err
		}},
		{name: "direct", call: func() error {
			ctx, cancel := ctxTimeout()
			defer cancel()
			resp, err := client.Do(ctx, apiclient.Request{Operation: "get-api-key", Method: http.MethodGet, Path: "/api-key/" + sb.info.Key})
			if err == nil && resp.Status != http.StatusOK {
				err = fmt.Errorf("direct GET: status %d", resp.Status)
			}
			return err
		}},
		{name: "baseline", call: func() error {
			line, err := bc.call("tools/call", baseParams)
			if err == nil {
				err = quickCheck(line)
			}
			return err
		}},
	}
	var p50 [3][]float64
	var p99 [3][]float64
	// First call of each checked in full, then a warm-up.
	if line, err := oc.call("tools/call", oursParams); err != nil || checkReply(line) != nil {
		return f, fmt.Errorf("ours: get-api-key: %v %v", err, checkReply(line))
	}
	for i, k := range kinds {
		if _, err := timeCalls(cfg.CallWarmup, k.call); err != nil {
			return f, fmt.Errorf("%s: %w", kinds[i].name, err)
		}
	}
	pids := []int{oc.cmd.Process.Pid, bc.cmd.Process.Pid, sb.cmd.Process.Pid}
	var other []float64
	// Calls of the three kinds are interleaved one by one, so all three meet the same machine: on
	// a shared VM the wake-up latency of an idle CPU swings by several times within seconds.
	for range cfg.CallRounds {
		s0 := snapCPU(pids...)
		var d [3][]time.Duration
		for range cfg.CallsPerRound {
			for i, k := range kinds {
				t := time.Now()
				if err := k.call(); err != nil {
					return f, fmt.Errorf("%s: %w", k.name, err)
				}
				d[i] = append(d[i], time.Since(t))
			}
		}
		for i := range kinds {
			slices.Sort(d[i])
			p50[i] = append(p50[i], us(percentile(d[i], 0.50)))
			p99[i] = append(p99[i], us(percentile(d[i], 0.99)))
		}
		other = append(other, otherCores(s0, snapCPU(pids...)))
	}
	f.OtherCores = spanOf(other)
	f.Ours = latency{spanOf(p50[0]), spanOf(p99[0])}
	f.Direct = latency{spanOf(p50[1]), spanOf(p99[1])}
	f.Baseline = latency{spanOf(p50[2]), spanOf(p99[2])}
	f.RatioP50, f.RatioP99 = spanOf(ratios(p50[0], p50[2])), spanOf(ratios(p99[0], p99[2]))
	f.AddedP50us, f.AddedP99us = spanOf(diffs(p50[0], p50[1])), spanOf(diffs(p99[0], p99[1]))
	if _, hwm, err := memStatus(oc.cmd.Process.Pid); err == nil {
		f.OursPeakRSSMiB = round(mib(hwm))
	}
	if _, hwm, err := memStatus(bc.cmd.Process.Pid); err == nil {
		f.BasePeakRSSMiB = round(mib(hwm))
	}
	return f, nil
}

// ---- 3. streamable HTTP ----

type httpLevel struct {
	Sessions            int     `json:"sessions"`
	Rounds              int     `json:"rounds"`
	RoundSeconds        float64 `json:"round_seconds"`
	Calls               int     `json:"calls"`
	CallsPerSec         span    `json:"calls_per_sec"`
	P50ms               span    `json:"p50_ms"`
	P99ms               span    `json:"p99_ms"`
	Errors              int     `json:"errors"`
	FirstError          string  `json:"first_error,omitempty"`
	ServerCPUusPerCall  span    `json:"server_cpu_us_per_call"`
	SandboxCPUusPerCall *span   `json:"sandbox_cpu_us_per_call,omitempty"`
	ClientCPUusPerCall  span    `json:"client_cpu_us_per_call"`
	ServerPeakRSSMiB    float64 `json:"server_peak_rss_mib"`
	OtherCores          span    `json:"other_processes_cpu_cores"`
}

var urlInLog = regexp.MustCompile(`(http://127\.0\.0\.1:\d+/mcp)`)

// startHTTP starts a server's http command and waits for the URL it prints (our server logs
// it on stderr, the baseline prints it on stdout).
func startHTTP(s server) (*exec.Cmd, string, error) {
	cmd := exec.Command(s.bin, s.httpArgs...)
	cmd.Env = s.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	found := make(chan string, 2)
	var logMu sync.Mutex
	scan := func(r io.Reader) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if m := urlInLog.FindString(sc.Text()); m != "" {
				select {
				case found <- m:
				default:
				}
			}
			logMu.Lock()
			fmt.Fprintln(s.stderr, sc.Text())
			logMu.Unlock()
		}
	}
	go scan(stdout)
	go scan(stderr)
	select {
	case u := <-found:
		return cmd, u, nil
	case <-time.After(10 * time.Second):
		stopProcess(cmd)
		return nil, "", fmt.Errorf("%s http: no URL printed within 10 s", s.name)
	}
}

// loadResult is one round of load.
type loadResult struct {
	lat      []time.Duration
	errors   int
	firstErr string
	elapsed  time.Duration
}

// load runs every session in its own goroutine, calling the mix in turn until dur has passed.
func load(sessions []*httpSession, mix []toolCall, dur time.Duration) loadResult {
	type acc struct {
		lat    []time.Duration
		errors int
		first  string
	}
	accs := make([]acc, len(sessions))
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Go(func() {
			a := &accs[i]
			a.lat = make([]time.Duration, 0, 1024)
			for j := i; time.Now().Before(deadline); j++ {
				c := mix[j%len(mix)]
				t := time.Now()
				body, err := s.callTool(c.Name, c.Args)
				a.lat = append(a.lat, time.Since(t))
				if err == nil {
					err = quickCheck(body)
				}
				if err != nil {
					a.errors++
					if a.first == "" {
						a.first = c.Name + ": " + err.Error()
					}
				}
			}
		})
	}
	wg.Wait()
	r := loadResult{elapsed: time.Since(start)}
	for _, a := range accs {
		r.lat = append(r.lat, a.lat...)
		r.errors += a.errors
		if r.firstErr == "" {
			r.firstErr = a.first
		}
	}
	slices.Sort(r.lat)
	return r
}

// openWarmSessions opens n HTTP sessions on url, checks that every tool of the mix answers
// without an error, and loads them for warmup before anything is timed. closeAll ends them.
func openWarmSessions(url string, n int, mix []toolCall, warmup time.Duration) (sessions []*httpSession, closeAll func(), err error) {
	sessions = make([]*httpSession, 0, n)
	closeAll = func() {
		var wg sync.WaitGroup
		for _, ss := range sessions {
			wg.Go(ss.close)
		}
		wg.Wait()
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	for i := range n {
		ss, err := openHTTPSession(url)
		if err != nil {
			return nil, nil, fmt.Errorf("session %d: %w", i, err)
		}
		sessions = append(sessions, ss)
	}
	for _, c := range mix {
		body, err := sessions[0].callTool(c.Name, c.Args)
		if err == nil {
			err = checkReply(body)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	if w := load(sessions, mix, warmup); w.errors > 0 {
		return nil, nil, fmt.Errorf("%d errors while warming up, first: %s", w.errors, w.firstErr)
	}
	return sessions, closeAll, nil
}

func measureHTTP(cfg settings, s server, n int, mixOf func(*sandboxProc) []toolCall, sb *sandboxProc) (httpLevel, error) {
	lvl := httpLevel{Sessions: n, Rounds: cfg.HTTPRounds, RoundSeconds: cfg.HTTPDuration.Seconds()}
	mix := mixOf(sb)
	cmd, url, err := startHTTP(s)
	if err != nil {
		return lvl, err
	}
	defer stopProcess(cmd)
	sessions, closeAll, err := openWarmSessions(url, n, mix, cfg.HTTPWarmup)
	if err != nil {
		return lvl, fmt.Errorf("%s: %w", s.name, err)
	}
	defer closeAll()
	var rate, p50, p99, srvCPU, sbCPU, cliCPU, other []float64
	self := os.Getpid()
	pids := []int{cmd.Process.Pid}
	if sb != nil {
		pids = append(pids, sb.cmd.Process.Pid)
	}
	for range cfg.HTTPRounds {
		snap0 := snapCPU(pids...)
		c0, err1 := cpuTime(cmd.Process.Pid)
		m0, err2 := cpuTime(self)
		var s0 time.Duration
		if sb != nil {
			s0, _ = cpuTime(sb.cmd.Process.Pid)
		}
		r := load(sessions, mix, cfg.HTTPDuration)
		c1, err3 := cpuTime(cmd.Process.Pid)
		m1, err4 := cpuTime(self)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return lvl, err
		}
		other = append(other, otherCores(snap0, snapCPU(pids...)))
		calls := float64(len(r.lat))
		lvl.Calls += len(r.lat)
		lvl.Errors += r.errors
		if lvl.FirstError == "" {
			lvl.FirstError = r.firstErr
		}
		rate = append(rate, calls/r.elapsed.Seconds())
		p50 = append(p50, ms(percentile(r.lat, 0.50)))
		p99 = append(p99, ms(percentile(r.lat, 0.99)))
		srvCPU = append(srvCPU, us(c1-c0)/calls)
		cliCPU = append(cliCPU, us(m1-m0)/calls)
		if sb != nil {
			s1, _ := cpuTime(sb.cmd.Process.Pid)
			sbCPU = append(sbCPU, us(s1-s0)/calls)
		}
	}
	lvl.CallsPerSec, lvl.P50ms, lvl.P99ms = spanOf(rate), spanOf(p50), spanOf(p99)
	lvl.ServerCPUusPerCall, lvl.ClientCPUusPerCall = spanOf(srvCPU), spanOf(cliCPU)
	lvl.OtherCores = spanOf(other)
	if sb != nil {
		sp := spanOf(sbCPU)
		lvl.SandboxCPUusPerCall = &sp
	}
	if _, hwm, err := memStatus(cmd.Process.Pid); err == nil {
		lvl.ServerPeakRSSMiB = round(mib(hwm))
	}
	return lvl, nil
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}
