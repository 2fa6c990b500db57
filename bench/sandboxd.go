package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// sandboxInfo is what the sandbox process prints on its first stdout line.
type sandboxInfo struct {
	URL    string `json:"url"`
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

// serveSandbox is the hidden -serve-sandbox mode of this binary: it serves a seeded sandbox on
// 127.0.0.1, prints a sandboxInfo line, and runs until its stdin closes, so it never outlives
// the benchmark that started it. The sandbox runs in its own process so that what the server
// pays for the round trip is a real one (a socket to another process), and so that the
// server's CPU time excludes the sandbox's.
func serveSandbox() error {
	if addr := os.Getenv(pprofEnv); addr != "" {
		servePprof(addr)
	}
	sb := sandbox.New()
	url, stop, err := sb.Start()
	if err != nil {
		return err
	}
	defer stop()
	key, secret := sb.ServerCredentials()
	if err := json.NewEncoder(os.Stdout).Encode(sandboxInfo{URL: url, Key: key, Secret: secret}); err != nil {
		return err
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// servePprof serves net/http/pprof on addr, for the -pprof mode.
func servePprof(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pprof listener: %v\n", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go http.Serve(ln, mux)
}

// sandboxProc is the running sandbox process: it serves until its stdin ends.
type sandboxProc struct {
	*stdioConn
	info      sandboxInfo
	pprofAddr string // set with -pprof
}

// startSandbox re-executes this binary with -serve-sandbox and reads its info line.
func startSandbox(env ...string) (*sandboxProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-sandbox")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	conn, err := startStdio(cmd)
	if err != nil {
		return nil, err
	}
	var info sandboxInfo
	if err := json.NewDecoder(conn.out).Decode(&info); err != nil {
		conn.close()
		return nil, fmt.Errorf("reading the sandbox's address: %w", err)
	}
	if !strings.HasPrefix(info.URL, "http://127.0.0.1:") {
		conn.close()
		return nil, fmt.Errorf("unexpected sandbox URL %q", info.URL)
	}
	return &sandboxProc{stdioConn: conn, info: info}, nil
}

func (s *sandboxProc) stop() { s.close() }

// env points our server at this sandbox the way a user points it at any endpoint.
func (s *sandboxProc) env() []string {
	return []string{
		"EXOSCALE_API_ENDPOINT=" + s.info.URL,
		"EXOSCALE_API_KEY=" + s.info.Key,
		"EXOSCALE_API_SECRET=" + s.info.Secret,
	}
}
