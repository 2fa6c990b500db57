// Command bench measures exoscale-keys-mcp against the floor the MCP library imposes (the bare
// mcp-go server in bench/baseline), side by side in one run, and checks the figures against the
// project's goals.
//
//	go run ./bench                  full run, prints a table
//	go run ./bench -quick           under a minute on 2 cores
//	go run ./bench -json            one JSON object on stdout instead of the table
//	go run ./bench -out r.json      also write the JSON object to a file
//	go run ./bench -render r.json   print the table of a saved run
//	go run ./bench -replicas        also the multi-replica phase: HAProxy in front of 1 and 3
//	                                replicas sharing a redis-server (skipped without them)
//	go run ./bench -pprof DIR       also profile the server (CPU per stdio call, CPU and
//	                                allocations at 100 HTTP sessions, idle heap) and the
//	                                sandbox and this client, into DIR
//
// For trying a fix: -only stdio,http runs only some phases, -sessions 100 only some HTTP levels,
// -overlay o.json builds our server with go build -overlay (a candidate change, unmerged) and
// -server-env GOGC=200 adds to its environment.
//
// It builds both servers with go build into a temporary directory, starts the sandbox in a
// separate process (this binary re-executed with -serve-sandbox) and points our server at it
// with EXOSCALE_API_ENDPOINT, EXOSCALE_API_KEY and EXOSCALE_API_SECRET, exactly as a user points
// it at any endpoint. The clients are raw JSON-RPC (lines on a pipe, plain POSTs), identical for
// both servers. Progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// settings are the sizes of a run.
type settings struct {
	Quick         bool          `json:"quick"`
	ColdRuns      int           `json:"cold_runs"`
	IdleRuns      int           `json:"idle_runs"`
	IdleSettle    time.Duration `json:"idle_settle_ns"`
	CallRounds    int           `json:"call_rounds"`
	CallsPerRound int           `json:"calls_per_round"`
	CallWarmup    int           `json:"call_warmup"`
	HTTPLevels    []int         `json:"http_levels"`
	HTTPRounds    int           `json:"http_rounds"`
	HTTPDuration  time.Duration `json:"http_round_ns"`
	HTTPWarmup    time.Duration `json:"http_warmup_ns"`
	ProfileFor    time.Duration `json:"profile_ns,omitempty"`
	Only          []string      `json:"only,omitempty"`
	Replicas      bool          `json:"replicas,omitempty"`
	ServerEnv     []string      `json:"server_env,omitempty"`
}

// runs says whether a phase is part of this run.
func (s settings) runs(phase string) bool {
	return len(s.Only) == 0 || slices.Contains(s.Only, phase)
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func quickSettings() settings {
	return settings{
		Quick: true, ColdRuns: 8, IdleRuns: 3, IdleSettle: 300 * time.Millisecond,
		CallRounds: 3, CallsPerRound: 400, CallWarmup: 100,
		HTTPLevels: []int{1, 10, 100}, HTTPRounds: 2, HTTPDuration: 1500 * time.Millisecond, HTTPWarmup: 400 * time.Millisecond,
		ProfileFor: 5 * time.Second,
	}
}

func fullSettings() settings {
	return settings{
		ColdRuns: 30, IdleRuns: 5, IdleSettle: time.Second,
		CallRounds: 5, CallsPerRound: 3000, CallWarmup: 500,
		HTTPLevels: []int{1, 10, 100}, HTTPRounds: 3, HTTPDuration: 5 * time.Second, HTTPWarmup: time.Second,
		ProfileFor: 10 * time.Second,
	}
}

// Our server's flags in the benchmark. The HTTP rate limits are raised so that they are not what
// is measured: the defaults (--rate 5000 --burst 10000 --session-rate 100 --session-burst 200)
// would throttle a single session to 100 calls/s. Read calls never produce a secret, so
// --secret-delivery only keeps the run from touching a secrets directory.
var (
	oursStdioArgs = []string{"stdio", "--secret-delivery", "inline"}
	oursHTTPArgs  = []string{"http", "--listen", "127.0.0.1:0", "--secret-delivery", "inline",
		"--rate", "1000000", "--burst", "1000000", "--session-rate", "1000000", "--session-burst", "1000000"}
)

func main() {
	var (
		quick     = flag.Bool("quick", false, "short run (under a minute on 2 cores)")
		asJSON    = flag.Bool("json", false, "print one JSON object instead of the table")
		out       = flag.String("out", "", "also write the JSON object to this file")
		pprofDir  = flag.String("pprof", "", "also profile the server and the sandbox into this directory")
		overlay   = flag.String("overlay", "", "build our server with go build -overlay FILE (to measure a candidate fix without committing it)")
		serverEnv = flag.String("server-env", "", "comma-separated NAME=VALUE added to our server's environment (e.g. GOMAXPROCS=1, for experiments)")
		levels    = flag.String("sessions", "", "comma-separated HTTP session counts (default 1,10,100)")
		only      = flag.String("only", "", "comma-separated phases to run (tools,cold,idle,stdio,http); default all, and only a full run is a report")
		render    = flag.String("render", "", "print the table of a JSON report written by -out, without measuring")
		replicas  = flag.Bool("replicas", false, "also run the multi-replica phase (HAProxy, redis-server, 1 and 3 replicas at the largest session level; skipped when either is absent)")
		sandboxed = flag.Bool("serve-sandbox", false, "internal: serve the sandbox (used by the benchmark itself)")
	)
	flag.Parse()
	if *render != "" {
		b, err := os.ReadFile(*render)
		var rep report
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		printTable(os.Stdout, &rep)
		return
	}
	if *sandboxed {
		if err := serveSandbox(); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
			os.Exit(1)
		}
		return
	}
	cfg := fullSettings()
	if *quick {
		cfg = quickSettings()
	}
	cfg.Only = splitComma(*only)
	cfg.Replicas = *replicas
	if *levels != "" {
		cfg.HTTPLevels = nil
		for _, l := range splitComma(*levels) {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "bench: -sessions: %q is not a session count\n", l)
				os.Exit(2)
			}
			cfg.HTTPLevels = append(cfg.HTTPLevels, n)
		}
	}
	cfg.ServerEnv = splitComma(*serverEnv)
	rep, err := run(cfg, *pprofDir, *overlay)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	rep.Command = "go run ./bench " + strings.Join(os.Args[1:], " ")
	js, _ := json.MarshalIndent(rep, "", "  ")
	if *out != "" {
		if err := os.WriteFile(*out, append(js, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
	}
	if *asJSON {
		os.Stdout.Write(append(js, '\n'))
		return
	}
	printTable(os.Stdout, rep)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// env is what every server process gets: the caller's environment without Exoscale settings
// or config locations that could point it elsewhere, plus the sandbox's.
type env struct {
	base []string
	dir  string
}

func newEnv(dir string) env {
	var base []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "EXOSCALE_") || strings.HasPrefix(name, "XDG_") {
			continue
		}
		base = append(base, kv)
	}
	base = append(base, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_STATE_HOME="+filepath.Join(dir, "state"))
	return env{base: base, dir: dir}
}

func (e env) with(extra ...string) []string {
	return append(append([]string(nil), e.base...), extra...)
}

// binaries are the two servers under test.
type binaries struct {
	ours, baseline string
}

func run(cfg settings, pprofDir, overlay string) (*report, error) {
	started := time.Now()
	rep := &report{Machine: describeMachine(), Settings: cfg, Started: started.UTC().Format(time.RFC3339), LoadAvgStart: loadAvg(), Overlay: overlay}
	dir, err := os.MkdirTemp("", "exokeys-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e := newEnv(dir)

	bins, err := build(dir, rep, overlay)
	if err != nil {
		return nil, err
	}
	var sbEnv []string
	sbPprof := ""
	if pprofDir != "" {
		if sbPprof, err = freePort(); err != nil {
			return nil, err
		}
		sbEnv = append(sbEnv, pprofEnv+"="+sbPprof)
	}
	sb, err := startSandbox(sbEnv...)
	if err != nil {
		return nil, err
	}
	sb.pprofAddr = sbPprof
	defer sb.stop()
	progress("sandbox process %d at %s", sb.cmd.Process.Pid, sb.info.URL)
	oursEnv := e.with(append(sb.env(), cfg.ServerEnv...)...)
	baseEnv := e.with()
	stderrLog := func(name string) io.Writer {
		f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return io.Discard
		}
		return f // closed with the process exit; the temp dir goes at the end
	}
	ours := server{name: "ours", bin: bins.ours, stdioArgs: oursStdioArgs, httpArgs: oursHTTPArgs, env: oursEnv, stderr: stderrLog("ours")}
	base := server{name: "baseline", bin: bins.baseline, stdioArgs: []string{"stdio"}, httpArgs: []string{"http", "-listen", "127.0.0.1:0"}, env: baseEnv, stderr: stderrLog("baseline")}

	if cfg.runs("tools") {
		progress("tools/list")
		if rep.ToolsList, err = measureToolsList(ours, base); err != nil {
			return nil, err
		}
	}
	if cfg.runs("cold") {
		progress("cold start × %d", cfg.ColdRuns)
		if rep.ColdStart, err = measureColdStart(cfg, ours, base, sb.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	if cfg.runs("idle") {
		progress("idle RSS × %d", cfg.IdleRuns)
		if rep.Idle, err = measureIdle(cfg, ours, base, sb.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	if cfg.runs("stdio") {
		progress("stdio calls: %d rounds × %d calls", cfg.CallRounds, cfg.CallsPerRound)
		if rep.StdioCall, err = measureStdioCalls(cfg, ours, base, sb); err != nil {
			return nil, err
		}
	}
	for _, c := range readMix(sb) {
		rep.HTTPTools = append(rep.HTTPTools, c.Name)
	}
	levels := cfg.HTTPLevels
	if !cfg.runs("http") {
		levels = nil
	}
	// Ours and the baseline alternate level by level, so both meet the same background load.
	for _, n := range levels {
		progress("streamable HTTP, ours, %d sessions: %d rounds × %s", n, cfg.HTTPRounds, cfg.HTTPDuration)
		lvl, err := measureHTTP(cfg, ours, n, readMix, sb)
		if err != nil {
			return nil, err
		}
		rep.HTTP = append(rep.HTTP, lvl)
		progress("streamable HTTP, baseline echo, %d sessions: %d rounds × %s", n, cfg.HTTPRounds, cfg.HTTPDuration)
		if lvl, err = measureHTTP(cfg, base, n, echoMix, nil); err != nil {
			return nil, err
		}
		rep.BaselineHTTP = append(rep.BaselineHTTP, lvl)
	}
	if cfg.Replicas && cfg.runs("replicas") && len(cfg.HTTPLevels) > 0 {
		// ours without the sandbox's credentials in its environment: each setup gets a sandbox
		// of its own.
		r := ours
		r.env = e.with(cfg.ServerEnv...)
		if rep.Replicas, err = measureReplicas(cfg, r); err != nil {
			return nil, err
		}
	}
	if pprofDir != "" {
		if rep.Profiles, err = profile(cfg, pprofDir, dir, overlay, ours, sb); err != nil {
			return nil, err
		}
	}
	rep.LoadAvgEnd = loadAvg()
	rep.Goals = evaluate(rep)
	rep.Seconds = round(time.Since(started).Seconds())
	return rep, nil
}

// build compiles our server and the baseline with plain go build (what a user gets from
// go install), and records their sizes.
func build(dir string, rep *report, overlay string) (binaries, error) {
	root, err := moduleRoot()
	if err != nil {
		return binaries{}, err
	}
	b := binaries{ours: filepath.Join(dir, "exoscale-keys-mcp"), baseline: filepath.Join(dir, "baseline")}
	for _, t := range []struct {
		out, pkg string
		flags    []string
	}{{b.ours, ".", overlayFlags(overlay)}, {b.baseline, "./bench/baseline", nil}} {
		progress("go build %s %s", strings.Join(t.flags, " "), t.pkg)
		if err := goBuild(root, t.out, t.pkg, t.flags...); err != nil {
			return binaries{}, err
		}
	}
	for _, t := range []struct {
		path string
		dst  *int64
	}{{b.ours, &rep.Binaries.OursBytes}, {b.baseline, &rep.Binaries.BaselineBytes}} {
		fi, err := os.Stat(t.path)
		if err != nil {
			return binaries{}, err
		}
		*t.dst = fi.Size()
	}
	rep.Binaries.OursMiB, rep.Binaries.BaselineMiB = round(mib(rep.Binaries.OursBytes)), round(mib(rep.Binaries.BaselineBytes))
	return b, nil
}

func goBuild(root, out, pkg string, extra ...string) error {
	args := append([]string{"build", "-o", out}, extra...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

func overlayFlags(file string) []string {
	if file == "" {
		return nil
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	return []string{"-overlay", file}
}

// moduleRoot is the directory of the module holding the server, wherever go run was started.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/exokeys/exoscale-keys-mcp").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module (run the benchmark inside it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// server is one of the two servers under test and how to start it.
type server struct {
	name      string
	bin       string
	stdioArgs []string
	httpArgs  []string
	env       []string
	stderr    io.Writer
}

func (s server) stdio() (*stdioConn, error) {
	cmd := exec.Command(s.bin, s.stdioArgs...)
	cmd.Env, cmd.Stderr = s.env, s.stderr
	return startStdio(cmd)
}

// ctxTimeout is the bound on one direct API call.
func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
