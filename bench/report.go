package main

import (
	"fmt"
	"io"
	"strings"
)

// report is everything one run measured; -json prints it as is.
type report struct {
	Command      string   `json:"command"`
	Started      string   `json:"started"`
	Seconds      float64  `json:"seconds"`
	LoadAvgStart float64  `json:"loadavg_1m_start"`
	LoadAvgEnd   float64  `json:"loadavg_1m_end"`
	Overlay      string   `json:"overlay,omitempty"`
	Machine      machine  `json:"machine"`
	Settings     settings `json:"settings"`
	Binaries     struct {
		OursBytes     int64   `json:"ours_bytes"`
		BaselineBytes int64   `json:"baseline_bytes"`
		OursMiB       float64 `json:"ours_mib"`
		BaselineMiB   float64 `json:"baseline_mib"`
	} `json:"binaries"`
	ColdStart    coldStartFigures `json:"cold_start"`
	StdioCall    stdioCallFigures `json:"stdio_call"`
	HTTPTools    []string         `json:"http_tools"`
	HTTP         []httpLevel      `json:"http"`
	BaselineHTTP []httpLevel      `json:"baseline_http"`
	Idle         idleFigures      `json:"idle"`
	ToolsList    toolsListFigures `json:"tools_list"`
	Goals        []goal           `json:"goals"`
	Profiles     []profileSummary `json:"profiles,omitempty"`
	Replicas     *replicaFigures  `json:"replicas,omitempty"`
}

// goal is one of the project's targets next to the measured figure.
type goal struct {
	Name   string  `json:"name"`
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Shown  string  `json:"shown"`
	Met    bool    `json:"met"`
}

// evaluate checks the medians against the goals BENCHMARKS.md states.
func evaluate(r *report) []goal {
	var g []goal
	if r.ColdStart.Runs > 0 {
		g = append(g, goal{
			Name: "cold start", Target: "≤ 1.5× baseline",
			Value: r.ColdStart.Ratio.Median, Met: r.ColdStart.Ratio.Median <= 1.5,
			Shown: fmt.Sprintf("%.2f× (%.1f ms vs %.1f ms)", r.ColdStart.Ratio.Median, r.ColdStart.OursMs.Median, r.ColdStart.BaselineMs.Median),
		})
	}
	if r.StdioCall.Rounds > 0 {
		g = append(g, goal{
			Name: "stdio call", Target: "≤ 2.5× baseline round trip (p50)",
			Value: r.StdioCall.RatioP50.Median, Met: r.StdioCall.RatioP50.Median <= 2.5,
			Shown: fmt.Sprintf("%.2f× (%.0f µs vs %.0f µs)", r.StdioCall.RatioP50.Median, r.StdioCall.Ours.P50us.Median, r.StdioCall.Baseline.P50us.Median),
		})
	}
	for _, l := range r.HTTP {
		if l.Sessions != 100 {
			continue
		}
		met := l.CallsPerSec.Median >= 4000 && l.Errors == 0 && l.P99ms.Median <= 50
		g = append(g, goal{
			Name: "HTTP, 100 sessions", Target: "≥ 4,000 calls/s, 0 errors, p99 ≤ 50 ms",
			Value: l.CallsPerSec.Median, Met: met,
			Shown: fmt.Sprintf("%.0f calls/s, %d errors, p99 %.1f ms", l.CallsPerSec.Median, l.Errors, l.P99ms.Median),
		})
	}
	if r.Idle.Runs > 0 {
		g = append(g, goal{
			Name: "idle RSS", Target: "≤ 20 MiB",
			Value: r.Idle.OursRSSMiB.Median, Met: r.Idle.OursRSSMiB.Median <= 20,
			Shown: fmt.Sprintf("%.1f MiB", r.Idle.OursRSSMiB.Median),
		})
	}
	if r.ToolsList.Tools == 0 {
		return g
	}
	// The token budget: at most 150 model-visible tokens per tool on average, and at most 250
	// for any one tool (the budget the IAM policy tools were held to; the mean alone once hid
	// a 677-token tool).
	g = append(g, goal{
		Name: "tokens per tool (mean)", Target: "≤ 150 on average",
		Value: r.ToolsList.MeanTokens, Met: r.ToolsList.MeanTokens <= 150,
		Shown: fmt.Sprintf("mean %.0f (total %.0f for %d tools)", r.ToolsList.MeanTokens, r.ToolsList.TotalTokens, r.ToolsList.Tools),
	})
	var over []string
	for _, t := range r.ToolsList.PerTool {
		if t.Tokens > maxToolTokens {
			over = append(over, fmt.Sprintf("%s %.0f", t.Name, t.Tokens))
		}
	}
	shown := "every tool within"
	if len(over) > 0 {
		shown = fmt.Sprintf("%d over: %s", len(over), strings.Join(over, ", "))
	}
	g = append(g, goal{
		Name: "tokens per tool (each)", Target: fmt.Sprintf("≤ %d for every tool", maxToolTokens),
		Value: r.ToolsList.MaxTokens, Met: len(over) == 0, Shown: shown,
	})
	return g
}

// maxToolTokens is the most model-visible tokens one tool may take.
const maxToolTokens = 250

func mark(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// sp formats a span as "median [min–max]" with the given precision.
func sp(s span, prec int) string {
	return fmt.Sprintf("%.*f [%.*f–%.*f]", prec, s.Median, prec, s.Min, prec, s.Max)
}

// printTable writes the human-readable report (markdown, so BENCHMARKS.md can paste it).
func printTable(w io.Writer, r *report) {
	m := r.Machine
	fmt.Fprintf(w, "exoscale-keys-mcp benchmark (%s) — %d CPUs, %s, %s GiB, %s, %s\n",
		map[bool]string{true: "quick", false: "full"}[r.Settings.Quick], m.CPUs, m.CPUModel, m.MemoryGiB, m.GoVersion, r.Started)
	fmt.Fprintf(w, "Figures are medians of repeated runs with [min–max]. 1-minute load average %.2f at the start, %.2f at the end.\n", r.LoadAvgStart, r.LoadAvgEnd)
	fmt.Fprintf(w, "\"Other CPU\" is the CPU (in cores, of %d) that processes outside the benchmark used during a phase: above ~0.2 the latencies of that phase are disturbed.\n\n", m.CPUs)

	gm := map[string]goal{}
	for _, g := range r.Goals {
		gm[g.Name] = g
	}
	goalCell := func(name string) string {
		g, ok := gm[name]
		if !ok {
			return ""
		}
		return g.Target + ": **" + mark(g.Met) + "**"
	}

	if r.ColdStart.Runs > 0 {
		c := r.ColdStart
		fmt.Fprintf(w, "### 1. Cold start over stdio: exec → initialize → tools/list answered (%d runs each)\n\n", c.Runs)
		fmt.Fprintf(w, "| | ours | baseline | ours/baseline | goal |\n|---|---|---|---|---|\n")
		fmt.Fprintf(w, "| cold start (ms) | %s | %s | %s× | %s |\n", sp(c.OursMs, 1), sp(c.BaselineMs, 1), sp(c.Ratio, 2), goalCell("cold start"))
		fmt.Fprintf(w, "| peak RSS (MiB) | %s | %s | | |\n", sp(c.OursPeakRSSMiB, 1), sp(c.BasePeakRSSMiB, 1))
		fmt.Fprintf(w, "| binary size (MiB) | %.1f | %.1f | %.2f× | |\n\n", r.Binaries.OursMiB, r.Binaries.BaselineMiB, r.Binaries.OursMiB/r.Binaries.BaselineMiB)
		fmt.Fprintf(w, "Other CPU during the phase: %.2f cores.\n\n", c.OtherCores)

	}

	if r.StdioCall.Rounds > 0 {
		s := r.StdioCall
		fmt.Fprintf(w, "### 2. One call over stdio (%d rounds × %d sequential calls)\n\n", s.Rounds, s.CallsPerRound)
		fmt.Fprintf(w, "| | p50 (µs) | p99 (µs) |\n|---|---|---|\n")
		fmt.Fprintf(w, "| ours: tools/call get-api-key → sandbox process | %s | %s |\n", sp(s.Ours.P50us, 0), sp(s.Ours.P99us, 0))
		fmt.Fprintf(w, "| direct: signed GET /api-key/{id} from Go (apiclient) → same sandbox | %s | %s |\n", sp(s.Direct.P50us, 0), sp(s.Direct.P99us, 0))
		fmt.Fprintf(w, "| baseline: tools/call echo | %s | %s |\n", sp(s.Baseline.P50us, 0), sp(s.Baseline.P99us, 0))
		fmt.Fprintf(w, "| ours/baseline | %s× | %s× |\n", sp(s.RatioP50, 2), sp(s.RatioP99, 2))
		fmt.Fprintf(w, "| added by our server (ours − direct) | %s | %s |\n\n", sp(s.AddedP50us, 0), sp(s.AddedP99us, 0))
		fmt.Fprintf(w, "Goal: full call %s. Other CPU per round: %s cores.\n\n", goalCell("stdio call"), sp(s.OtherCores, 2))

	}

	if len(r.HTTP)+len(r.BaselineHTTP) > 0 {
		fmt.Fprintf(w, "### 3. Streamable HTTP, concurrent sessions for a fixed time (%d rounds × %.1f s per level)\n\n", r.Settings.HTTPRounds, r.Settings.HTTPDuration.Seconds())
		fmt.Fprintf(w, "Ours calls, in turn: %s. Baseline calls echo.\n\n", strings.Join(r.HTTPTools, ", "))
		fmt.Fprintf(w, "| server | sessions | calls/s | p50 (ms) | p99 (ms) | errors | server CPU µs/call | sandbox CPU µs/call | client CPU µs/call | server peak RSS (MiB) | other CPU (cores) |\n")
		fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|\n")
		row := func(name string, l httpLevel) {
			sbx := "–"
			if l.SandboxCPUusPerCall != nil {
				sbx = sp(*l.SandboxCPUusPerCall, 0)
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %d | %s | %s | %s | %.1f | %s |\n", name, l.Sessions, sp(l.CallsPerSec, 0), sp(l.P50ms, 2), sp(l.P99ms, 2), l.Errors,
				sp(l.ServerCPUusPerCall, 0), sbx, sp(l.ClientCPUusPerCall, 0), l.ServerPeakRSSMiB, sp(l.OtherCores, 2))
		}
		for _, l := range r.HTTP {
			row("ours", l)
		}
		for _, l := range r.BaselineHTTP {
			row("baseline", l)
		}
		fmt.Fprintf(w, "\nGoal at 100 sessions: %s\n", goalCell("HTTP, 100 sessions"))
		for _, l := range append(append([]httpLevel(nil), r.HTTP...), r.BaselineHTTP...) {
			if l.FirstError != "" {
				fmt.Fprintf(w, "\nFirst error at %d sessions: %s\n", l.Sessions, l.FirstError)
			}
		}
		fmt.Fprintln(w)

	}

	i, tl := r.Idle, r.ToolsList
	if i.Runs > 0 || tl.Tools > 0 {
		fmt.Fprintf(w, "### 4. Idle memory and what the model sees\n\n")
		fmt.Fprintf(w, "| | ours | baseline | goal |\n|---|---|---|---|\n")
	}
	if i.Runs > 0 {
		fmt.Fprintf(w, "| idle RSS after initialize (MiB, %d runs, %.0f ms idle) | %s | %s | %s |\n", i.Runs, i.SettleMs, sp(i.OursRSSMiB, 1), sp(i.BaselineRSSMiB, 1), goalCell("idle RSS"))
	}
	if tl.Tools > 0 {
		fmt.Fprintf(w, "| tools/list response (bytes) | %d | %d | |\n", tl.OursBytes, tl.BaselineBytes)
		fmt.Fprintf(w, "| model-visible tokens, all %d tools (name + description + input schema, bytes/4) | %.0f | | |\n", tl.Tools, tl.TotalTokens)
		fmt.Fprintf(w, "| tokens per tool: mean | %.0f | | %s |\n", tl.MeanTokens, goalCell("tokens per tool (mean)"))
		fmt.Fprintf(w, "| tokens per tool: max | %.0f (%s) | | %s |\n\n", tl.MaxTokens, tl.MaxTool, goalCell("tokens per tool (each)"))
		fmt.Fprintf(w, "<details><summary>tokens per tool</summary>\n\n| tool | bytes | tokens |\n|---|---|---|\n")
		for _, p := range tl.PerTool {
			fmt.Fprintf(w, "| %s | %d | %.0f |\n", p.Name, p.Bytes, p.Tokens)
		}
		fmt.Fprintf(w, "\n</details>\n")
	}
	if i.Runs > 0 || tl.Tools > 0 {
		fmt.Fprintln(w)
	}

	printReplicas(w, r.Replicas)

	fmt.Fprintf(w, "### Goals\n\n| goal | target | measured | |\n|---|---|---|---|\n")
	for _, g := range r.Goals {
		fmt.Fprintf(w, "| %s | %s | %s | **%s** |\n", g.Name, g.Target, g.Shown, mark(g.Met))
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "\n### Profile: %s (%s)\n\n```\n%s\n```\n", p.Name, p.File, p.Top)
	}
	fmt.Fprintf(w, "\nRun took %.0f s: `%s`\n", r.Seconds, r.Command)
}

// printReplicas prints the multi-replica phase, when it ran.
func printReplicas(w io.Writer, f *replicaFigures) {
	if f == nil {
		return
	}
	fmt.Fprintf(w, "### 5. Several replicas behind HAProxy (%d sessions, read mix)\n\n", f.Sessions)
	if f.Skipped != "" {
		fmt.Fprintf(w, "Skipped: %s\n\n", f.Skipped)
		return
	}
	fmt.Fprintf(w, "| | calls/s | p50 ms | p99 ms | errors | replicas CPU µs/call | HAProxy CPU µs/call | Redis CPU µs/call |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range f.Setups {
		redis := "–"
		if s.RedisCPUusPerCall != nil {
			redis = sp(*s.RedisCPUusPerCall, 0)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s | %s | %s |\n", s.Name, sp(s.CallsPerSec, 0), sp(s.P50ms, 2), sp(s.P99ms, 2), s.Errors, sp(s.ServerCPUusPerCall, 0), sp(s.ProxyCPUusPerCall, 0), redis)
	}
	for _, s := range f.Setups {
		if s.FirstError != "" {
			fmt.Fprintf(w, "\nFirst error, %s: %s\n", s.Name, s.FirstError)
		}
	}
	if len(f.Latency) > 0 {
		fmt.Fprintf(w, "\nOne session, one replica directly (no proxy), calls one after the other:\n\n")
		fmt.Fprintf(w, "| | read p50 ms | read p99 ms | write p50 ms | write p99 ms |\n|---|---|---|---|---|\n")
		for _, l := range f.Latency {
			name := "no Redis"
			if l.Redis {
				name = "Redis"
			}
			fmt.Fprintf(w, "| %s (%d reads: get-api-key; %d writes: create-api-key) | %.2f | %.2f | %.2f | %.2f |\n", name, l.Reads, l.Writes, l.ReadP50ms, l.ReadP99ms, l.WriteP50ms, l.WriteP99ms)
		}
		if len(f.Latency) == 2 {
			a, b := f.Latency[0], f.Latency[1]
			fmt.Fprintf(w, "\nRedis adds %+.2f ms to a read's p50 and %+.2f ms to a write's.\n", b.ReadP50ms-a.ReadP50ms, b.WriteP50ms-a.WriteP50ms)
		}
	}
	fmt.Fprintln(w)
}
