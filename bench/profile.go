package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// pprofEnv, when set to host:port, makes the profiling build of our server (and the sandbox
// process) serve net/http/pprof there.
const pprofEnv = "EXOKEYS_BENCH_PPROF"

// pprofOverlay is added to package main of our server with go build -overlay, for -pprof only:
// the server's sources stay untouched and the measured binary never carries it.
const pprofOverlay = `package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("` + pprofEnv + `")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go http.Serve(ln, mux)
}
`

// profileSummary is one profile written by -pprof and its top functions.
type profileSummary struct {
	Name string `json:"name"`
	File string `json:"file"`
	Top  string `json:"top"`
}

// profile builds our server with pprof and profiles it (and the sandbox, and this client) while
// it serves stdio calls and 100 HTTP sessions, then an idle heap.
func profile(cfg settings, outDir, tmp, overlay string, ours server, sb *sandboxProc) ([]profileSummary, error) {
	outDir, err := filepath.Abs(outDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	src := filepath.Join(tmp, "zz_benchpprof.go")
	if err := os.WriteFile(src, []byte(pprofOverlay), 0o600); err != nil {
		return nil, err
	}
	// Merged with the -overlay of the run, so a candidate fix can be profiled too.
	ovm := map[string]map[string]string{"Replace": {}}
	if overlay != "" {
		b, err := os.ReadFile(overlay)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &ovm); err != nil || ovm["Replace"] == nil {
			return nil, fmt.Errorf("-overlay %s: want {\"Replace\": {...}}: %v", overlay, err)
		}
	}
	ovm["Replace"][filepath.Join(root, "zz_benchpprof.go")] = src
	ov, _ := json.Marshal(ovm)
	ovFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovFile, ov, 0o600); err != nil {
		return nil, err
	}
	bin := filepath.Join(outDir, "exoscale-keys-mcp-pprof")
	progress("go build -overlay (pprof build of our server)")
	if err := goBuild(root, bin, ".", "-overlay", ovFile); err != nil {
		return nil, err
	}
	secs := int(cfg.ProfileFor.Seconds())
	var out []profileSummary
	summarize := func(name, file, binary string, extra ...string) {
		args := append([]string{"tool", "pprof", "-top", "-nodecount=25"}, extra...)
		args = append(args, binary, file)
		top, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			top = append(top, []byte(err.Error())...)
		}
		out = append(out, profileSummary{Name: name, File: file, Top: strings.TrimSpace(string(top))})
	}
	withPprof := func() (server, string, error) {
		addr, err := freePort()
		if err != nil {
			return server{}, "", err
		}
		s := ours
		s.bin = bin
		s.env = append(append([]string(nil), ours.env...), pprofEnv+"="+addr)
		return s, addr, nil
	}
	self, _ := os.Executable()

	// CPU per stdio call.
	progress("profiling stdio get-api-key calls for %d s", secs)
	s, addr, err := withPprof()
	if err != nil {
		return nil, err
	}
	c, err := s.stdio()
	if err != nil {
		return nil, err
	}
	if err := c.initialize(); err != nil {
		c.close()
		return nil, err
	}
	params := callParams(toolCall{"get-api-key", `{"id":"` + sb.info.Key + `"}`})
	files := map[string]string{"ours": filepath.Join(outDir, "ours-stdio-call.cpu.pprof"), "sandbox": filepath.Join(outDir, "sandbox-stdio-call.cpu.pprof")}
	done := fetchProfiles(secs, map[string]string{"ours": addr, "sandbox": sb.pprofAddr}, files)
	calls := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				c.close()
				return nil, err
			}
			running = false
		default:
			if _, err := c.call("tools/call", params); err != nil {
				c.close()
				return nil, err
			}
			calls++
		}
	}
	c.close()
	progress("  %d calls profiled", calls)
	summarize(fmt.Sprintf("ours, stdio get-api-key, %d calls", calls), files["ours"], bin)
	summarize(fmt.Sprintf("ours, stdio get-api-key, %d calls (cumulative)", calls), files["ours"], bin, "-cum")
	summarize("sandbox during stdio calls", files["sandbox"], self)

	// CPU at 100 HTTP sessions.
	progress("profiling 100 HTTP sessions for %d s", secs)
	if s, addr, err = withPprof(); err != nil {
		return nil, err
	}
	cmd, url, err := startHTTP(s)
	if err != nil {
		return nil, err
	}
	defer stopProcess(cmd)
	sessions := make([]*httpSession, 100)
	for i := range sessions {
		if sessions[i], err = openHTTPSession(url); err != nil {
			return nil, err
		}
	}
	files = map[string]string{"ours": filepath.Join(outDir, "ours-http100.cpu.pprof"), "sandbox": filepath.Join(outDir, "sandbox-http100.cpu.pprof")}
	allocs := filepath.Join(outDir, "ours-http100.allocs.pprof")
	allocDone := make(chan error, 1)
	go func() {
		allocDone <- fetch(fmt.Sprintf("http://%s/debug/pprof/allocs?seconds=%d", addr, secs), allocs)
	}()
	clientFile := filepath.Join(outDir, "bench-client-http100.cpu.pprof")
	cf, err := os.Create(clientFile)
	if err != nil {
		return nil, err
	}
	pprof.StartCPUProfile(cf)
	done = fetchProfiles(secs, map[string]string{"ours": addr, "sandbox": sb.pprofAddr}, files)
	r := load(sessions, readMix(sb), time.Duration(secs)*time.Second+300*time.Millisecond)
	err = errors.Join(<-done, <-allocDone)
	pprof.StopCPUProfile()
	cf.Close()
	if err != nil {
		return nil, err
	}
	for _, ss := range sessions {
		ss.close()
	}
	stopProcess(cmd)
	progress("  %d calls profiled (%.0f/s, %d errors)", len(r.lat), float64(len(r.lat))/r.elapsed.Seconds(), r.errors)
	summarize(fmt.Sprintf("ours, 100 HTTP sessions, %d calls", len(r.lat)), files["ours"], bin)
	summarize(fmt.Sprintf("ours, 100 HTTP sessions, %d calls (cumulative)", len(r.lat)), files["ours"], bin, "-cum")
	summarize(fmt.Sprintf("ours, 100 HTTP sessions, bytes allocated for %d calls", len(r.lat)), allocs, bin, "-sample_index=alloc_space", "-cum")
	summarize("sandbox during 100 HTTP sessions", files["sandbox"], self)
	summarize("bench client during 100 HTTP sessions", clientFile, self)

	// Idle heap after initialize.
	progress("idle heap")
	if s, addr, err = withPprof(); err != nil {
		return nil, err
	}
	if c, err = s.stdio(); err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.initialize(); err != nil {
		return nil, err
	}
	time.Sleep(cfg.IdleSettle)
	heap := filepath.Join(outDir, "ours-idle.heap.pprof")
	if err := fetch("http://"+addr+"/debug/pprof/heap?gc=1", heap); err != nil {
		return nil, err
	}
	stats := filepath.Join(outDir, "ours-idle.memstats.txt")
	if err := fetch("http://"+addr+"/debug/pprof/heap?debug=1", stats); err != nil {
		return nil, err
	}
	if rss, _, err := memStatus(c.cmd.Process.Pid); err == nil {
		progress("  idle RSS of the pprof build: %.1f MiB", mib(rss))
	}
	summarize("ours, idle heap in use", heap, bin, "-sample_index=inuse_space")
	if b, err := os.ReadFile(stats); err == nil {
		if i := strings.Index(string(b), "# runtime.MemStats"); i >= 0 {
			var keep []string
			for line := range strings.Lines(string(b[i:])) {
				if !strings.HasPrefix(line, "# PauseNs") && !strings.HasPrefix(line, "# PauseEnd") {
					keep = append(keep, line)
				}
			}
			out = append(out, profileSummary{Name: "ours, idle runtime.MemStats", File: stats, Top: strings.TrimSpace(strings.Join(keep, ""))})
		}
	}
	return out, nil
}

// fetchProfiles fetches a CPU profile of secs seconds from each pprof address at once and
// reports on the channel when all are written.
func fetchProfiles(secs int, addrs, files map[string]string) <-chan error {
	done := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		for name, addr := range addrs {
			if addr == "" {
				continue
			}
			wg.Go(func() {
				err := fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), files[name])
				mu.Lock()
				if first == nil && err != nil {
					first = fmt.Errorf("%s profile: %w", name, err)
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		done <- first
	}()
	return done
}

func fetch(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
