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
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/internal/jsonguard"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/tools"
	"github.com/exokeys/exoscale-keys-mcp/tools/iamtools"
	"github.com/exokeys/exoscale-keys-mcp/tools/mcpadapter"
	"github.com/exokeys/exoscale-keys-mcp/tools/workflows"
)

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
	} else if len(args) > 0 && isHelpFlag(args[0]) {
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
		if len(args) == 1 && summary(args[0]) != "" && args[0] != "help" {
			return run(ctx, []string{args[0], "-h"}, stdin, stdout, stderr, getenv) // help COMMAND
		}
		err = runHelp(args, stdout)
	default:
		err = usagef("unknown command %q (exoscale-keys-mcp help lists the commands)", cmd)
	}
	return exitStatus(err, stderr)
}

// common holds the flags stdio and http share.
type common struct {
	sandbox          bool
	zone, account    string
	configFile       string
	logLevel         string
	timeout          time.Duration
	secretDelivery   string
	secretsDir       string
	allowSelfLockout bool
	confirm          string
	confirmFallback  string
	readOnly         bool
	toolsets, only   string
	exclude          string
	auditLog         string
	pollInterval     time.Duration
	waitTimeout      time.Duration

	shared engineParts // http only: what replicas share (scaleout.go); zero: all in-process
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.BoolVar(&c.sandbox, "sandbox", false, "serve against the embedded in-memory Exoscale sandbox (no account needed)")
	fs.StringVar(&c.zone, "zone", "", "Exoscale zone (default: EXOSCALE_ZONE, the account's defaultZone, ch-gva-2)")
	fs.StringVar(&c.configFile, "config", "", "exoscale.toml to read (default: EXOSCALE_CONFIG, else the exo CLI's places; never the working directory unless named)")
	fs.StringVar(&c.account, "account", "", "account in exoscale.toml (default: EXOSCALE_ACCOUNT, defaultAccount)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "timeout of one Exoscale API call")
	fs.StringVar(&c.secretDelivery, "secret-delivery", envOr(getenv, "EXOSCALE_MCP_SECRET_DELIVERY", "file"), "how created or revealed secrets reach the user: file (a 0600 file; the model sees its path) or inline (in the result)")
	fs.StringVar(&c.secretsDir, "secrets-dir", "", "directory of secret files (default $XDG_STATE_HOME/exoscale-keys-mcp/secrets)")
	fs.BoolVar(&c.allowSelfLockout, "allow-self-lockout", false, "let calls through that delete the server's own key or role or take from its key an operation it needs")
	fs.StringVar(&c.confirm, "confirm", "none", "ask the human before calls: none, destructive, writes")
	fs.StringVar(&c.confirmFallback, "confirm-fallback", "deny", "when the client cannot ask its human: deny or allow")
	fs.BoolVar(&c.readOnly, "read-only", false, "expose only list/get tools")
	fs.StringVar(&c.toolsets, "toolsets", "", "comma-separated toolsets to expose (default all)")
	fs.StringVar(&c.only, "tools", "", "comma-separated tools to expose (default all)")
	fs.StringVar(&c.exclude, "exclude-tools", "", "comma-separated tools to hide (wins over the others)")
	fs.DurationVar(&c.pollInterval, "poll-interval", 0, "poll asynchronous operations this often (default: Exoscale's cadence, 3 s growing to 60 s)")
	fs.DurationVar(&c.waitTimeout, "wait-timeout", tools.DefaultWaitTimeout, "longest wait for an asynchronous operation; past it the call ends and points to get-operation")
	fs.StringVar(&c.auditLog, "audit-log", "", "append one JSON line per changing, refused or dry-run call to this file (0600)")
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: expected debug, info, warn or error, got %q", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// retryBackoff replaces the API client's wait between retries when set: the root tests set it
// so that the fault matrix does not wait out real seconds. Nil in the binary.
var retryBackoff func(attempt int, retryAfter time.Duration) time.Duration

// backend is what a transport serves: the engine, the registry of what it serves, and what
// to close at the end.
type backend struct {
	engine   *tools.Engine
	registry *tools.Registry
	log      *slog.Logger
	close    func()
}

// newBackend resolves endpoint and credentials (or starts the sandbox) and builds the handler.
// requireCredentials is false in multi-tenant HTTP mode, where each request brings its own.
func (c *common) newBackend(ctx context.Context, stderr io.Writer, getenv func(string) string, transport string, requireCredentials bool) (_ *backend, err error) {
	// Flags first: nothing is started for a call that fails on its words.
	log, err := newLogger(c.logLevel, stderr)
	if err != nil {
		return nil, err
	}
	delivery, err := c.delivery(getenv)
	if err != nil {
		return nil, err
	}
	if c.confirmFallback != "deny" && c.confirmFallback != "allow" {
		return nil, fmt.Errorf("--confirm-fallback: expected deny or allow, got %q", c.confirmFallback)
	}

	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	cfg := apiclient.Config{Timeout: c.timeout, UserAgent: "exoscale-keys-mcp/" + version, Logger: log, Backoff: retryBackoff, Observer: c.shared.observer}
	zone := c.zone // the zone the self-lockout guard evaluates policies in ("" = the default)
	if c.sandbox {
		sb := sandbox.New()
		base, stop, err := sb.Start()
		if err != nil {
			return nil, fmt.Errorf("starting the sandbox: %w", err)
		}
		closers = append(closers, stop)
		key, secret := sb.ServerCredentials()
		cfg.Endpoint, cfg.Credentials = base, apiclient.Credentials{Key: key, Secret: secret}
		// The sandbox settles operations in one poll: poll it briskly.
		cfg.Poll = apiclient.PollConfig{First: 20 * time.Millisecond, Interval: 50 * time.Millisecond}
		log.Info("serving the embedded sandbox: an in-memory Exoscale, no account used; nothing here touches a real organization", "endpoint", base, "key", key)
	} else {
		res, err := apiclient.Resolve(ctx, apiclient.Settings{Zone: c.zone, Account: c.account, ConfigFile: c.configFile, Getenv: getenv, EndpointOnly: !requireCredentials})
		if err != nil {
			return nil, err
		}
		for _, w := range res.Warnings {
			log.Warn(w)
		}
		cfg.Endpoint, cfg.Credentials, zone = res.Endpoint, res.Credentials, res.Zone
		log.Info("exoscale api", "endpoint", res.Endpoint, "credentials", res.Source, "key", res.Credentials.Key)
	}
	if c.pollInterval > 0 {
		cfg.Poll = apiclient.PollConfig{First: c.pollInterval, Interval: c.pollInterval}
	}
	client, err := apiclient.New(cfg)
	if err != nil {
		return nil, err
	}
	var audit *tools.AuditLog
	if c.auditLog != "" {
		if audit, err = tools.OpenAuditLog(c.auditLog); err != nil {
			return nil, err
		}
		closers = append(closers, func() { audit.Close() })
	}
	e, err := tools.New(tools.Options{
		Client:      client,
		Logger:      log,
		Secrets:     delivery,
		Guards:      tools.GuardOptions{AllowSelfLockout: c.allowSelfLockout, Zone: zone},
		Confirm:     tools.ConfirmOptions{Mode: tools.ConfirmMode(c.confirm), AllowWithoutElicitation: c.confirmFallback == "allow"},
		Audit:       audit,
		Transport:   transport,
		WaitTimeout: c.waitTimeout,
		Locker:      c.shared.locker,
		Sealer:      c.shared.sealer,
		Nonces:      c.shared.nonces,
	})
	if err != nil {
		return nil, err
	}
	filter := tools.Filter{ReadOnly: c.readOnly, Toolsets: splitList(c.toolsets), Tools: splitList(c.only), Exclude: splitList(c.exclude)}
	full, err := serverRegistry(e, filter)
	if err != nil {
		return nil, err
	}
	reg, err := full.Filtered(filter)
	if err != nil {
		return nil, err
	}
	return &backend{engine: e, registry: reg, log: log, close: closeAll}, nil
}

// serverRegistry is everything the server can serve before the operator's filter: the
// catalog's tools, the IAM policy tools with their resources, and the composite workflows with
// their prompts. The workflows see the filter: they name in their results only tools served.
// With a nil engine it serves to check names (--tools, --toolsets) before anything starts; its
// handlers need the engine only when called.
func serverRegistry(e *tools.Engine, filter tools.Filter) (*tools.Registry, error) {
	reg, err := e.NewRegistry(tools.Filter{})
	if err != nil {
		return nil, err
	}
	var caller iamtools.Caller // nil without an engine: the handlers are never called then
	if e != nil {
		caller = e
	}
	if err := iamtools.Register(reg, caller); err != nil {
		return nil, err
	}
	if err := reg.AddTools(workflows.Tools(e, workflows.Options{Filter: filter})...); err != nil {
		return nil, err
	}
	reg.AddPrompts(workflows.Prompts()...)
	return reg, nil
}

// toolTable is the README's tool table: the catalog's tools and the IAM policy tools, then the
// composite ones.
func toolTable() string {
	return tools.MarkdownTable(iamtools.Tools(nil), workflows.Tools(nil, workflows.Options{}))
}

func (c *common) delivery(getenv func(string) string) (tools.SecretDelivery, error) {
	switch tools.DeliveryMode(c.secretDelivery) {
	case tools.DeliverInline:
		return tools.SecretDelivery{Mode: tools.DeliverInline}, nil
	case tools.DeliverFile:
		dir := c.secretsDir
		if dir == "" {
			var err error
			if dir, err = c.defaultSecretsDir(getenv); err != nil {
				return tools.SecretDelivery{}, err
			}
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return tools.SecretDelivery{}, err
		}
		return tools.SecretDelivery{Mode: tools.DeliverFile, Dir: abs}, nil
	}
	return tools.SecretDelivery{}, fmt.Errorf("--secret-delivery: expected file or inline, got %q", c.secretDelivery)
}

// newMCPServer builds the MCP server around the registry.
func newMCPServer(b *backend, opts ...server.ServerOption) *server.MCPServer {
	return mcpadapter.NewServer("exoscale-keys-mcp", version, b.registry, b.engine.Instructions(b.registry), b.log, opts...)
}

func runStdio(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("stdio", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	b, err := c.newBackend(ctx, stderr, getenv, "stdio", true)
	if err != nil {
		return err
	}
	defer b.close()
	s := server.NewStdioServer(newMCPServer(b))
	s.SetErrorLogger(slog.NewLogLogger(b.log.Handler(), slog.LevelError))
	// Ambiguous (repeated keys, unsafe integers) or oversized messages are answered here and
	// never reach mcp-go: see internal/jsonguard.
	out := jsonguard.SyncWriter(stdout)
	err = s.Listen(ctx, jsonguard.NewLineFilter(stdin, out, jsonguard.MaxMessageBytes, b.log), out)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
