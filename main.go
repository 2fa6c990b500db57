// Command exoscale-keys-mcp is an MCP server that manages Exoscale credentials: IAM API keys,
// AI API keys, IAM roles and their policies, the organization policy and AI deployments, one
// tool per Exoscale API operation, over stdio or streamable HTTP.
//
//	exoscale-keys-mcp [stdio] [flags]   serve MCP on stdin/stdout (the default)
//	exoscale-keys-mcp http [flags]      serve streamable HTTP at /mcp
//	exoscale-keys-mcp sandbox [flags]   run the embedded sandbox Exoscale API on its own
//	exoscale-keys-mcp tools             print the tool table (markdown)
//	exoscale-keys-mcp version           print the version and build
//	exoscale-keys-mcp help [command]    list the commands or a command's flags
//
// --sandbox serves against an embedded in-memory Exoscale, with no account needed.
//
// This package parses each command's flags and wires the packages that do the work:
// internal/server (engine, registry and MCP server from the shared flags), internal/httpserve
// (streamable HTTP), internal/scale (Redis and metrics for several replicas), sandbox (the
// sandbox command), internal/cli (commands, help, exit status) and internal/buildinfo.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/internal/buildinfo"
	"github.com/exokeys/exoscale-keys-mcp/internal/cli"
	"github.com/exokeys/exoscale-keys-mcp/internal/httpserve"
	"github.com/exokeys/exoscale-keys-mcp/internal/jsonguard"
	"github.com/exokeys/exoscale-keys-mcp/internal/scale"
	"github.com/exokeys/exoscale-keys-mcp/internal/server"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// versionFile is the version of the current release line, the one source of truth: release
// builds stamp it (the .goreleaser.yaml hook refuses a tag that differs, the Dockerfile reads
// it), and server.json and manifest.json carry it (TestReleaseFiles_VersionIsVERSION).
//
//go:embed VERSION
var versionFile string

// releaseVersion is VERSION without its newline.
func releaseVersion() string { return strings.TrimSpace(versionFile) }

// version is what the binary calls itself: in `version`, the MCP serverInfo and the User-Agent.
// Release builds stamp it with -ldflags "-X main.version=0.1.0"; left empty, init takes the
// module version that `go install …@v0.1.0` records, else VERSION with "-dev"
// (buildinfo.Version).
var version string

func init() {
	bi, _ := debug.ReadBuildInfo()
	version = buildinfo.Version(version, releaseVersion(), bi)
}

// retryBackoff replaces the API client's wait between retries when set: the root tests set it
// so that the fault matrix does not wait out real seconds. Nil in the binary.
var retryBackoff func(attempt int, retryAfter time.Duration) time.Duration

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := "stdio"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && cli.IsHelpFlag(args[0]) {
		cmd, args = "help", args[1:]
	}
	var err error
	switch cmd {
	case "stdio":
		err = runStdio(ctx, args, stdin, stdout, stderr, getenv)
	case "http":
		err = runHTTP(ctx, args, stderr, getenv)
	case "sandbox":
		err = runSandbox(ctx, args, stdout, stderr)
	case "tools":
		err = runTools(args, stdout)
	case "version":
		err = runVersion(args, stdout)
	case "help":
		if len(args) == 1 && cli.Summary(args[0]) != "" && args[0] != "help" {
			return run(ctx, []string{args[0], "-h"}, stdin, stdout, stderr, getenv) // help COMMAND
		}
		err = cli.Help(args, stdout)
	default:
		err = cli.Usagef("unknown command %q (exoscale-keys-mcp help lists the commands)", cmd)
	}
	return cli.ExitStatus(err, stderr)
}

// backendOptions are the server.Options every transport shares.
func backendOptions(stderr io.Writer, getenv func(string) string, transport string) server.Options {
	return server.Options{Stderr: stderr, Getenv: getenv, Transport: transport, RequireCredentials: true, Version: version, Backoff: retryBackoff}
}

func runStdio(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("stdio", flag.ContinueOnError)
	var c server.Flags
	c.Register(fs, getenv)
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := c.Check(); err != nil {
		return err
	}
	b, err := c.NewBackend(ctx, backendOptions(stderr, getenv, "stdio"))
	if err != nil {
		return err
	}
	defer b.Close()
	s := mcpserver.NewStdioServer(b.MCPServer())
	s.SetErrorLogger(slog.NewLogLogger(b.Log.Handler(), slog.LevelError))
	// Ambiguous (repeated keys, unsafe integers) or oversized messages are answered here and
	// never reach mcp-go: see internal/jsonguard.
	out := jsonguard.SyncWriter(stdout)
	err = s.Listen(ctx, jsonguard.NewLineFilter(stdin, out, jsonguard.MaxMessageBytes, b.Log), out)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// runHTTP serves MCP over streamable HTTP (package httpserve holds the transport and its checks).
func runHTTP(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	var c server.Flags
	var f httpserve.Flags
	var sf scale.Flags
	c.Register(fs, getenv)
	f.Register(fs)
	sf.Register(fs)
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := c.Check(); err != nil {
		return err
	}
	token, err := f.AuthToken(getenv)
	if err != nil {
		return err
	}
	hs, err := httpserve.New(f, token)
	if err != nil {
		return err
	}
	if f.CredentialsFromHeaders && c.Sandbox() {
		return errors.New("--credentials-from-headers and --sandbox do not go together: the sandbox has its own credentials")
	}
	// A busy or bad --listen is reported before the sandbox starts; Run serves this socket.
	if err := hs.Listen(); err != nil {
		return err
	}
	defer hs.Close()
	log, err := c.Logger(stderr)
	if err != nil {
		return err
	}
	shared, err := sf.Setup(ctx, log, getenv)
	if err != nil {
		return err
	}
	defer shared.Close()
	if err := shared.Wire(hs, f.Limits); err != nil {
		return err
	}
	o := backendOptions(stderr, getenv, "http")
	o.RequireCredentials, o.Shared = !f.CredentialsFromHeaders, shared.Engine
	b, err := c.NewBackend(ctx, o)
	if err != nil {
		return err
	}
	defer b.Close()
	if b.Registry, err = shared.ServeMetrics(b.Log, b.Registry, version); err != nil {
		return err
	}
	if f.CredentialsFromHeaders && c.FileDelivery() {
		b.Log.Warn("multi-tenant with --secret-delivery file: the secrets tenants create or reveal are written to this server's disk, under the secrets directory; use --secret-delivery inline to hand them to each tenant instead")
	}
	return hs.Run(ctx, b.Log, b.MCPServer(hs.ServerOptions()...))
}

// runSandbox serves the embedded sandbox as a process of its own (sandbox.Serve), until ctx
// ends (SIGINT or SIGTERM in main).
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve the sandbox API on (port 0 picks a free port)")
	statePath := fs.String("state", "", "keep the sandbox's state in this file: loaded at start if present, written (0600) after every change and at exit; it holds the sandbox's secrets")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	return sandbox.Serve(ctx, sandbox.ServeOptions{Listen: *listen, StatePath: *statePath, Out: stdout, Log: slog.New(slog.NewTextHandler(stderr, nil))})
}

// runTools prints the tool table.
func runTools(args []string, stdout io.Writer) error {
	if err := cli.ParseFlags(flag.NewFlagSet("tools", flag.ContinueOnError), args, stdout); err != nil {
		return err
	}
	_, err := io.WriteString(stdout, server.ToolTable())
	return err
}

// runVersion prints the version and the build's module, VCS revision and Go version.
func runVersion(args []string, stdout io.Writer) error {
	if err := cli.ParseFlags(flag.NewFlagSet("version", flag.ContinueOnError), args, stdout); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	return buildinfo.Write(stdout, version, buildinfo.Read(bi))
}
